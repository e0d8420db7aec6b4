"""Adapter for the shared side-by-side harness (``../shared/bench/run_bench.py``).

One subscription per harness feed: an ``rss`` source with ``approval = "trusted"`` (a feed
that is itself the approved outlet) and a ``webhook`` channel routed to that source alone,
POSTing to the feed's sink URL. One tick is ``syndicator -q run``, a whole process.

    cd ../shared/bench
    python3 run_bench.py bench --runner $PWD/../../main/benchmarks/syndicator_runner.py:SyndicatorRunner \
        --opt bin=$PWD/../../main/.venv/bin/syndicator --reps 3

Options: ``bin`` (the syndicator executable), ``concurrency`` (per channel, default 8),
``keep_text`` (default: the config default, "always").
"""

from __future__ import annotations

import subprocess

from runners.base import BenchContext, Runner  # type: ignore[import-not-found]


class SyndicatorRunner(Runner):  # type: ignore[misc]
    name = "syndicator"
    description = "syndicator: rss source (trusted) -> webhook channel, one pair per feed"

    def setup(self, ctx: BenchContext) -> None:
        self.ctx = ctx
        concurrency = int(self.opt("concurrency", 8))
        lines = ["[syndicator]", 'state = "state.db"', 'timezone = "Asia/Jakarta"']
        if self.opt("keep_text", ""):  # "until-delivered": the smaller state file
            lines.append(f'keep_text = "{self.opt("keep_text")}"')
        lines.append("")
        for feed in ctx.feeds:
            lines += [
                f'[sources."{feed.name}"]',
                'type = "rss"',
                f'url = "{feed.url}"',
                'approval = "trusted"',
                "",
                f'[channels."{feed.name}"]',
                'type = "webhook"',
                f'url = "{ctx.sink_url(feed.name)}"',
                f'sources = ["{feed.name}"]',
                f"concurrency = {concurrency}",
                "",
            ]
        ctx.state_dir.mkdir(parents=True, exist_ok=True)
        self.config = ctx.state_dir / "syndicator.toml"
        self.config.write_text("\n".join(lines), encoding="utf-8")

    def tick_command(self) -> list[str]:
        return [self.opt("bin", "syndicator"), "-q", "--config", str(self.config), "run"]

    def tick_env(self) -> dict[str, str]:
        return {"HOME": str(self.ctx.state_dir)}

    def state_paths(self) -> list:
        d = self.ctx.state_dir
        return [d / "state.db", d / "state.db-wal"]

    def version(self) -> str:
        out = subprocess.run([self.opt("bin", "syndicator"), "--version"], capture_output=True, text=True)
        return out.stdout.strip()
