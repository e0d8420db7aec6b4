/* syndicator website channel: client-side search over search-index.js (no server needed).
   Every word typed must appear in the title, summary, agency, topics or text of a release;
   releases with the words in their title come first, then newest first. Results are built
   with DOM nodes and textContent only, so nothing from the index is parsed as HTML. */
(function () {
  "use strict";
  var docs = (window.SYNDICATOR_SEARCH || []).map(function (r) {
    return {
      r: r,
      title: fold(r.t),
      all: fold([r.t, r.s, r.a, (r.k || []).join(" "), r.x].join(" ")),
    };
  });
  var form = document.getElementById("search-form");
  var input = document.getElementById("q");
  var status = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  if (!form || !input || !status || !list) return;

  function fold(text) {
    // case- and accent-insensitive: "Sumbawa" finds "sumbawa", "cafe" finds "café"
    return String(text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }

  function words(query) {
    return fold(query).split(/[\s,.;:!?"'()]+/).filter(Boolean);
  }

  function find(query) {
    var wanted = words(query);
    if (!wanted.length) return [];
    var hits = [];
    docs.forEach(function (d, order) {
      if (!wanted.every(function (w) { return d.all.indexOf(w) !== -1; })) return;
      var inTitle = wanted.filter(function (w) { return d.title.indexOf(w) !== -1; }).length;
      hits.push({ d: d, score: inTitle, order: order });
    });
    hits.sort(function (a, b) { return b.score - a.score || a.order - b.order; });
    return hits.map(function (h) { return h.d.r; });
  }

  function snippet(r, wanted) {
    // a window of the text around the first word found, with the words marked
    var text = r.x || r.s || "";
    var lower = text.toLowerCase();
    var at = -1;
    wanted.some(function (w) { at = lower.indexOf(w); return at !== -1; });
    if (at === -1) return r.s ? { text: r.s } : null;
    var from = Math.max(0, at - 80);
    var to = Math.min(text.length, at + 160);
    // whole words only at both ends of the window
    var space = text.indexOf(" ", from);
    if (from > 0 && space !== -1 && space < at) from = space + 1;
    space = text.lastIndexOf(" ", to);
    if (to < text.length && space > at) to = space;
    var cut = (from > 0 ? "… " : "") + text.slice(from, to) + (to < text.length ? " …" : "");
    return { text: cut };
  }

  function marked(text, wanted) {
    var frag = document.createDocumentFragment();
    var lower = text.toLowerCase();
    var i = 0;
    while (i < text.length) {
      var next = -1;
      var len = 0;
      wanted.forEach(function (w) {
        var at = lower.indexOf(w, i);
        if (at !== -1 && (next === -1 || at < next)) { next = at; len = w.length; }
      });
      if (next === -1) { frag.appendChild(document.createTextNode(text.slice(i))); break; }
      if (next > i) frag.appendChild(document.createTextNode(text.slice(i, next)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(next, next + len);
      frag.appendChild(mark);
      i = next + len;
    }
    return frag;
  }

  function say(template, n, query) {
    return template.replace("{n}", String(n)).replace("{q}", query);
  }

  function show(query) {
    query = query.trim();
    list.textContent = "";
    if (!query) { status.textContent = ""; return; }
    var wanted = words(query);
    var found = find(query);
    status.textContent = say(found.length ? status.dataset.count : status.dataset.none, found.length, query);
    found.forEach(function (r) {
      var li = document.createElement("li");
      var article = document.createElement("article");
      article.className = "teaser";
      if (r.l && r.l !== document.documentElement.lang) article.lang = r.l;
      var h2 = document.createElement("h2");
      var a = document.createElement("a");
      a.href = r.u;
      a.textContent = r.t;
      h2.appendChild(a);
      article.appendChild(h2);
      var meta = [r.d, r.a].filter(Boolean).join(" · ");
      if (meta) {
        var p = document.createElement("p");
        p.className = "meta";
        p.textContent = meta;
        article.appendChild(p);
      }
      var snip = snippet(r, wanted);
      if (snip) {
        var q = document.createElement("p");
        q.className = "teaser-summary";
        q.appendChild(marked(snip.text, wanted));
        article.appendChild(q);
      }
      li.appendChild(article);
      list.appendChild(li);
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var query = input.value;
    try {
      // keep the query in the address so the result can be shared or reloaded
      history.replaceState(null, "", "?q=" + encodeURIComponent(query.trim()));
    } catch (err) {
      /* some file:// set-ups refuse it; the search still runs */
    }
    show(query);
  });

  var initial = new URLSearchParams(window.location.search).get("q") || "";
  input.value = initial;
  show(initial);
})();
