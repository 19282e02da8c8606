"""A real SNS on loopback: moto's server mode, with its signature checks switched on.

moto answers Publish as SNS does (its validation of ARNs, subjects, sizes, FIFO ids) and
delivers to a subscribed SQS queue, which the tests read back. After setup, moto's
`reset-auth` makes every request need a known access key and a valid SigV4 signature
(`SignatureDoesNotMatch`, `InvalidClientTokenId`), as AWS does.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
_POLICY = json.dumps({"Version": "2012-10-17",
                      "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


@dataclass
class MotoSns:
    url: str
    access_key: str
    secret_key: str
    topic_arn: str
    fifo_arn: str
    queue_url: str

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)

    def create_role(self, name: str) -> str:
        """A role the test user may assume, allowed to publish; returns its ARN."""
        trust = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
        iam = self.client("iam")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=_POLICY)
        return str(arn)

    def received(self) -> list[dict[str, Any]]:
        """The SNS envelopes the queue got since the last call (subject, message, ...)."""
        sqs = self.client("sqs")
        out: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                      WaitTimeSeconds=0).get("Messages", [])
            if not got:
                return out
            for m in got:
                out.append(json.loads(m["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=m["ReceiptHandle"])


def _moto_api(url: str, call: str, body: str = "") -> None:
    request = urllib.request.Request(f"{url}/moto-api/{call}", data=body.encode(),
                                     method="POST", headers={"Content-Type": "text/plain"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        answer.read()


def _auth(url: str, count: str) -> None:
    _moto_api(url, "reset-auth", count)


def run_moto() -> Iterator[MotoSns]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        # moto's backends live in this process, shared by every server started in it.
        _moto_api(url, "reset")
        admin = dict(region_name=REGION, endpoint_url=url, aws_access_key_id="testing",
                     aws_secret_access_key="testing")
        iam = boto3.client("iam", **admin)
        iam.create_user(UserName="alert-router")
        iam.put_user_policy(UserName="alert-router", PolicyName="all",
                            PolicyDocument=_POLICY)
        key = iam.create_access_key(UserName="alert-router")["AccessKey"]
        sns, sqs = boto3.client("sns", **admin), boto3.client("sqs", **admin)
        topic = sns.create_topic(Name="oncall")["TopicArn"]
        fifo = sns.create_topic(Name="oncall.fifo", Attributes={"FifoTopic": "true"})
        queue_url = sqs.create_queue(QueueName="oncall-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs",
                      Endpoint=queue_arn["Attributes"]["QueueArn"])
        _auth(url, "0")  # from now on, every request must be signed by a known key
        yield MotoSns(url, key["AccessKeyId"], key["SecretAccessKey"], topic,
                      fifo["TopicArn"], queue_url)
    finally:
        _auth(url, "inf")
        _moto_api(url, "reset")
        server.stop()

