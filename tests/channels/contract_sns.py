"""SNS's part in the channel contract test: a SigV4-signed Publish, checked as AWS does."""

from __future__ import annotations

import urllib.parse

from router.channels.sns import SigV4, SnsConfig
from router.config.types import Secret

from .contract import Setup
from .fake_sns import verify_sigv4
from .fakes import Recorded

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETSNSKEY"
SECRETS = (SECRET_KEY,)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:oncall"


def _publish(req: Recorded) -> None:
    assert verify_sigv4(req, {ACCESS_KEY: SECRET_KEY}) == ("eu-west-1", "sns")
    form = dict(urllib.parse.parse_qsl(req.text))
    assert (form["Action"], form["Version"], form["TopicArn"]) == ("Publish", "2010-03-31",
                                                                   TOPIC)
    assert form["Subject"] == "[FIRING:1]  (HighErrorRate a:1)"
    assert "Alerts Firing:\nLabels:\n - alertname = HighErrorRate\n" in form["Message"]


def _config(url: str) -> SnsConfig:
    return SnsConfig(SigV4("eu-west-1", ACCESS_KEY, Secret(SECRET_KEY)), api_url=url,
                     topic_arn=TOPIC)


SETUPS = {"sns": Setup("sns", "webhook", "/", _config, check_request=_publish)}
