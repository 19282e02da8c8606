"""Amazon SNS (`sns_configs`): the channel's registry face and public names.

Split by concern: `config` (SnsConfig, SigV4 and the parser), `aws` (credentials, botocore's
SigV4 signer, SNS's error answers) and `channel` (rendering and sending). The registry reads
CONFIG_KEY, KEYS, `parse` and `build` from here.
"""

from __future__ import annotations

from router.channels.sns.channel import SnsChannel, build, clean_subject
from router.channels.sns.config import CONFIG_KEY, KEYS, SigV4, SnsConfig, parse

__all__ = ["CONFIG_KEY", "KEYS", "SigV4", "SnsChannel", "SnsConfig", "build", "clean_subject",
           "parse"]
