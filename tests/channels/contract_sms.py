"""The SMS channel's part in the channel contract test: Twilio and a generic SMS gateway."""

from __future__ import annotations

import base64
import urllib.parse
from collections.abc import Mapping

from router.channels.sms import SmsConfig
from router.config.types import HttpConfig, Secret

from .contract import Setup
from .fake_sms import ACCOUNT_SID, AUTH_TOKEN, MESSAGES_PATH
from .fakes import Recorded

GATEWAY_BEARER = "SECRET-sms-gateway-bearer-8080"
GATEWAY_PATH_TOKEN = "SECRETSMSPATHTOKEN6060"
SECRETS = (AUTH_TOKEN, GATEWAY_BEARER, GATEWAY_PATH_TOKEN)
TO = "+15551230000"


def _twilio_config(url: str) -> SmsConfig:
    base = url[: url.index("/2010-04-01/")]
    return SmsConfig("twilio", (TO,), account_sid=ACCOUNT_SID, auth_token=Secret(AUTH_TOKEN),
                     from_="+15557650000", api_url=base)


def _twilio_request(req: Recorded) -> None:
    pair = f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(pair).decode()
    assert req.path == MESSAGES_PATH
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(urllib.parse.parse_qsl(req.text))
    assert (form["To"], form["From"]) == (TO, "+15557650000")
    assert form["Body"].startswith("[FIRING] HighErrorRate: 5xx above 5%")


def _gateway_request(req: Recorded) -> None:
    assert req.headers["Authorization"] == f"Bearer {GATEWAY_BEARER}"
    assert req.json()["to"] == TO


def _no_state(state: Mapping[str, str]) -> None:
    assert state == {}  # the generic fake answers an empty 200: no message id to keep


SETUPS = {
    "sms-twilio": Setup(
        "sms", "webhook", MESSAGES_PATH, _twilio_config,
        check_request=_twilio_request, check_state=_no_state,
    ),
    "sms-webhook": Setup(
        "sms", "webhook", f"/sms/{GATEWAY_PATH_TOKEN}",
        lambda url: SmsConfig("webhook", (TO,), url=Secret(url),
                              http_config=HttpConfig(bearer_token=Secret(GATEWAY_BEARER))),
        check_request=_gateway_request, check_state=_no_state,
    ),
}
