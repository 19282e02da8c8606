"""The validated configuration as frozen dataclasses (what `config.load_config` returns).

Durations are float seconds. Inheritance along the route tree is already applied, so every
`Route` carries concrete timers and `group_by`. Template fields hold Jinja source text.

Run-time modules import these types (and router/config/interval_types.py) but nothing else
from config/: the YAML reader and the parsers stay behind `load_config`. This module and
interval_types.py import no run-time module, so the dependency points one way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from router.config.http_types import Authorization as Authorization
from router.config.http_types import BasicAuth as BasicAuth
from router.config.http_types import HttpConfig as HttpConfig
from router.config.http_types import OAuth2 as OAuth2
from router.config.http_types import TlsConfig as TlsConfig
from router.config.interval_types import TimeInterval
from router.config.secret_types import Secret as Secret
from router.config.source_types import AlertmanagerSourceConfig as AlertmanagerSourceConfig
from router.matchers import Matcher


@dataclass(frozen=True, slots=True)
class Pacing:
    """A token bucket for one delivery target: `rate` messages per second, `burst` at once.

    Configured per channel entry as `pacing: {rate: 120, per: 1m, burst: 20}`.
    """

    rate: float
    burst: int = 1

    @property
    def interval(self) -> float:
        return 1.0 / self.rate


@dataclass(frozen=True, slots=True)
class SlackField:
    """One Alertmanager attachment field; title and value are Jinja source."""

    title: str
    value: str
    short: bool | None = None  # None: the entry's `short_fields`


@dataclass(frozen=True, slots=True)
class SlackAction:
    """One Alertmanager attachment action: a link button (`url`) or a message action
    (`name`/`value`, optional `confirm`); strings are Jinja source."""

    type: str
    text: str
    url: str = ""
    style: str = ""
    name: str = ""
    value: str = ""
    confirm: tuple[tuple[str, str], ...] = ()  # text, title, ok_text, dismiss_text


@dataclass(frozen=True, slots=True)
class SlackAttachment:
    """Alertmanager's Slack attachment keys (`color`, `title_link`, `fields`, ...): when any
    is set, the message carries one legacy attachment with them beside its blocks."""

    color: str | None = None
    title_link: str | None = None
    pretext: str | None = None
    footer: str | None = None
    fallback: str | None = None
    callback_id: str | None = None
    image_url: str | None = None
    thumb_url: str | None = None
    fields: tuple[SlackField, ...] = ()
    short_fields: bool = False
    mrkdwn_in: tuple[str, ...] = ()
    actions: tuple[SlackAction, ...] = ()


@dataclass(frozen=True, slots=True)
class SlackConfig:
    """`api_url` (incoming webhook) or `token` + `channel` (Web API chat.postMessage)."""

    api_url: Secret | None = None
    token: Secret | None = None
    # Base of the Web API; `chat.postMessage` / `chat.update` are appended. Tests point it
    # at a loopback fake.
    app_url: str = "https://slack.com/api/"
    channel: str | None = None
    username: str | None = None
    icon_emoji: str | None = None
    title: str | None = None  # Jinja source
    text: str | None = None  # Jinja source
    send_resolved: bool = False
    max_alerts: int = 20  # alerts shown as sections before "+N more"
    template: str | None = None  # path of a Jinja file overriding the default template
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None  # per-attempt; None = delivery.timeout
    pacing: Pacing | None = None  # None: Slack's ~1 message/s per channel
    icon_url: str | None = None
    link_names: bool = False
    # Alertmanager's attachment keys, if any; flat in the YAML (`inline` for redaction).
    attachment: SlackAttachment | None = field(default=None, metadata={"inline": True})
    # Alertmanager's `update_message`: every later notification of a group edits the
    # group's message (chat.update) instead of posting a new one. Web API only.
    update_message: bool = False


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    url: Secret  # URLs often embed tokens: treated as a secret
    send_resolved: bool = True
    max_alerts: int = 0
    template: str | None = None
    http_config: HttpConfig = field(default_factory=HttpConfig)
    timeout: float | None = None
    pacing: Pacing | None = None  # None: unpaced


@dataclass(frozen=True, slots=True)
class LogConfig:
    send_resolved: bool = True
    template: str | None = None


_C = TypeVar("_C")


class ChannelConfig(Protocol):
    """What every channel's config dataclass offers the pipeline."""

    @property
    def send_resolved(self) -> bool: ...

    @property
    def template(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Receiver:
    """A named list of integrations, e.g. (("slack", SlackConfig(...)), ("log", ...))."""

    name: str
    integrations: tuple[tuple[str, ChannelConfig], ...] = ()
    # Alertmanager #226: announce the resolution of an alert that was notified as firing
    # before a silence muted it (Alertmanager never does).
    send_resolved_when_silenced: bool = False

    def channels(self) -> list[tuple[str, int, ChannelConfig]]:
        """(channel type, index among that type's entries, config) for every integration,
        grouped by type in the registry's order (Alertmanager's integration naming)."""
        counts: dict[str, int] = {}
        out: list[tuple[str, int, ChannelConfig]] = []
        for kind, cfg in self.integrations:
            index = counts.get(kind, 0)
            counts[kind] = index + 1
            out.append((kind, index, cfg))
        return out

    def configs(self, cls: type[_C]) -> list[_C]:
        """The integrations whose config is a `cls` (e.g. every SlackConfig)."""
        return [cfg for _, cfg in self.integrations if isinstance(cfg, cls)]


# group_by value meaning "all labels" (Alertmanager's `['...']`).
GROUP_BY_ALL = "..."


@dataclass(frozen=True, slots=True)
class StormConfig:
    """Route `storm`: more than `threshold` new alerts within `window` switch the route's
    groups to one digest per receiver channel every `digest_interval`
    (router/noise/storm.py)."""

    threshold: int
    window: float
    digest_interval: float


@dataclass(frozen=True, slots=True)
class FlapConfig:
    """Route `flap`: an alert changing firing/resolved more than `changes` times within
    `window` is announced once and then held until stable for `quiet`
    (router/noise/flap.py)."""

    changes: int
    window: float
    quiet: float


@dataclass(frozen=True, slots=True)
class Route:
    """One node of the routing tree with inheritance applied.

    `group_by` is a tuple of names, or `("...",)` for every label. `id` is unique in the
    tree (path of child indexes, e.g. "0.2.1"); `key` is Alertmanager's route key
    (`{}/{severity="critical"}`) used in the group key.
    """

    receiver: str
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = ()
    # Names of top-level time_intervals; not inherited (Alertmanager's rule).
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    id: str = "0"
    key: str = "{}"
    # Storm digest, flap damping and fast resolve; inherited by child routes unless
    # overridden (`storm: false` / `flap: false` switch an inherited one off).
    storm: StormConfig | None = None
    flap: FlapConfig | None = None
    fast_resolve: bool = False

    @property
    def group_by_all(self) -> bool:
        return self.group_by == (GROUP_BY_ALL,)


def _all_match(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True, slots=True)
class InhibitRule:
    """While a firing alert matches `source_matchers`, alerts matching `target_matchers`
    with the same values for every `equal` label (missing reads as "") are muted.
    """

    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...]
    name: str | None = None

    def matches_source(self, labels: Mapping[str, str]) -> bool:
        return _all_match(self.source_matchers, labels)

    def matches_target(self, labels: Mapping[str, str]) -> bool:
        return _all_match(self.target_matchers, labels)

    def equal_key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(name, "") for name in self.equal)


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """A generic JSON producer mapped to alerts by Jinja expressions over `event`."""

    name: str
    labels: dict[str, str]  # label name -> Jinja source
    annotations: dict[str, str] = field(default_factory=dict)
    status: str | None = None  # Jinja source yielding "firing"/"resolved"
    starts_at: str | None = None  # Jinja source yielding RFC 3339
    ends_at: str | None = None
    generator_url: str | None = None


@dataclass(frozen=True, slots=True)
class IngestAuth:
    """`server.auth`: credentials for the API; `public_read` opens the read routes."""

    bearer_tokens: tuple[Secret, ...] = ()
    basic_auth: tuple[BasicAuth, ...] = ()
    public_read: bool = False

    @property
    def enabled(self) -> bool:
        return bool(self.bearer_tokens or self.basic_auth)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    listen: str = "127.0.0.1:9095"
    external_url: str = "http://127.0.0.1:9095"
    silence_url: str = ""  # the UI the templates' silence links open ("": external_url)
    auth: IngestAuth = field(default_factory=IngestAuth)
    max_body_bytes: int = 5 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class StorageConfig:
    path: str = "alert-router.db"


@dataclass(frozen=True, slots=True)
class DeliveryConfig:
    timeout: float = 10.0  # per attempt
    max_attempts: int = 50
    max_age: float = 24 * 3600.0
    backoff_base: float = 0.5
    backoff_cap: float = 60.0
    concurrency: int = 32
    dead_retention: float = 7 * 24 * 3600.0  # dead rows are removed this long after creation
    # Sends in flight to one target: all a stuck target can hold, and the widest repeat
    # window after a crash (sends whose answer was not yet recorded are sent again); never
    # all of `concurrency` (see Scheduler).
    target_concurrency: int = 4


# The public push services' hosts (ntfy's list): subscription endpoints elsewhere are
# refused, so a client cannot make the router POST to an address of its choosing (SSRF).
DEFAULT_PUSH_ENDPOINTS = (
    "*.google.com", "*.googleapis.com", "*.mozilla.com", "*.mozaws.net", "*.windows.com",
    "*.microsoft.com", "*.apple.com",
)
# How long a push service keeps an undelivered notification, by the alerts' severity: a
# laptop that wakes within it still shows the latest state (TTL 0 would drop it).
DEFAULT_PUSH_TTL = (("critical", 4 * 3600.0), ("page", 4 * 3600.0), ("error", 2 * 3600.0),
                    ("warning", 3600.0), ("info", 1800.0), ("default", 3600.0))


@dataclass(frozen=True, slots=True)
class WebPushSettings:
    """The top-level `webpush` section: Web Push is on once `subject` is set."""

    subject: str | None = None  # the VAPID `sub` claim: a mailto: or https: contact
    # `*.host` / `host` (https on 443) or `scheme://host[:port|:*]` origin patterns.
    allowed_endpoints: tuple[str, ...] = DEFAULT_PUSH_ENDPOINTS
    ttl: tuple[tuple[str, float], ...] = DEFAULT_PUSH_TTL  # (severity | "default", seconds)

    @property
    def enabled(self) -> bool:
        return self.subject is not None

    def ttl_for(self, severity: str) -> float:
        table = dict(self.ttl)
        return table.get(severity, table.get("default", 3600.0))


@dataclass(frozen=True, slots=True)
class StreamConfig:
    """`stream`: the event log and the live stream (router/events, router/web/stream.py)."""

    retention: float = 24 * 3600.0  # stream events older than this are trimmed (GC)
    keepalive: float = 15.0  # an idle stream sends a keepalive (SSE comment, WS ping)
    client_queue: int = 1024  # events queued per replaying client before it is too slow
    client_buffer: int = 1 << 20  # unsent bytes per live client before it is too slow


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    """Alertmanager's `global:` block with its defaults; receivers inherit from it at load
    (an entry's own value wins; `http_config` is replaced whole, never merged)."""

    resolve_timeout: float = 300.0
    http_config: HttpConfig = field(default_factory=HttpConfig)
    smtp_from: str = ""
    smtp_hello: str = "localhost"
    smtp_smarthost: str = ""
    smtp_auth_username: str = ""
    smtp_auth_password: Secret | None = None
    smtp_auth_secret: Secret | None = None
    smtp_auth_identity: str = ""
    smtp_require_tls: bool = True
    slack_api_url: Secret | None = None
    pagerduty_url: str = "https://events.pagerduty.com/v2/enqueue"
    opsgenie_api_url: str = "https://api.opsgenie.com/"
    opsgenie_api_key: Secret | None = None
    victorops_api_url: str = (
        "https://alert.victorops.com/integrations/generic/20131114/alert/")
    victorops_api_key: Secret | None = None
    telegram_api_url: str = "https://api.telegram.org"
    webex_api_url: str = "https://webexapis.com/v1/messages"
    wechat_api_url: str = "https://qyapi.weixin.qq.com/cgi-bin/"
    wechat_api_secret: Secret | None = None
    wechat_api_corp_id: str = ""
    mattermost_webhook_url: Secret | None = None  # Alertmanager 0.30+
    rocketchat_api_url: str = "https://open.rocket.chat/"
    rocketchat_token: Secret | None = None
    rocketchat_token_id: Secret | None = None
    jira_api_url: str = ""  # no default: a jira_configs entry without api_url needs it


@dataclass(frozen=True, slots=True)
class RouterConfig:
    route: Route
    receivers: dict[str, Receiver]
    global_: GlobalConfig = field(default_factory=GlobalConfig)
    templates: tuple[str, ...] = ()  # template file paths (globs already expanded)
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    alertmanager_source: AlertmanagerSourceConfig = field(
        default_factory=AlertmanagerSourceConfig)  # `sources.alertmanager`
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: dict[str, TimeInterval] = field(default_factory=dict)
    webpush: WebPushSettings = field(default_factory=WebPushSettings)
    source_file: str | None = None  # None for the built-in default
