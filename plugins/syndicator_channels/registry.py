"""What each entry point of this distribution loads: one small plugin per channel type that
names its class without importing it (``register.lazy``).

A tick imports only the channels its config uses: importing all thirteen modules, each with
its regexes, dataclasses and stdlib clients (smtplib, ssl), cost about 45 ms of every cron
tick's start-up. Each module keeps its own ``register_channels`` hook as well, for
registering it directly (``pm.register(syndicator_channels.webhook)``).
"""

from __future__ import annotations

from syndicator import hookimpl
from syndicator.plugins import Registrar


class LazyChannel:
    """A plugin that registers one channel type by name."""

    def __init__(self, type_name: str, target: str) -> None:
        self.type_name, self.target = type_name, target

    def __repr__(self) -> str:
        return f"LazyChannel({self.type_name!r}, {self.target!r})"

    @hookimpl
    def register_channels(self, register: Registrar) -> None:
        register.lazy(self.type_name, self.target)


website = LazyChannel("website", "syndicator_channels.website:WebsiteChannel")
webhook = LazyChannel("webhook", "syndicator_channels.webhook:WebhookChannel")
email = LazyChannel("email", "syndicator_channels.email:EmailChannel")
slack = LazyChannel("slack", "syndicator_channels.slack:SlackChannel")
matrix = LazyChannel("matrix", "syndicator_channels.matrix:MatrixChannel")
wordpress = LazyChannel("wordpress", "syndicator_channels.wordpress:WordPressChannel")
x = LazyChannel("x", "syndicator_channels.x:XChannel")
mastodon = LazyChannel("mastodon", "syndicator_channels.mastodon:MastodonChannel")
bluesky = LazyChannel("bluesky", "syndicator_channels.bluesky:BlueskyChannel")
facebook = LazyChannel("facebook", "syndicator_channels.facebook:FacebookChannel")
telegram = LazyChannel("telegram", "syndicator_channels.telegram:TelegramChannel")
whatsapp = LazyChannel("whatsapp", "syndicator_channels.whatsapp:WhatsAppChannel")
discord = LazyChannel("discord", "syndicator_channels.discord:DiscordChannel")
