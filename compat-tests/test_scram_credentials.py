"""confluent-kafka's AdminClient SCRAM credential APIs (KIP-554: DescribeUserScramCredentials,
AlterUserScramCredentials) against weir: upsert, describe, the credentials surviving a broker
restart, Kafka's per-user errors, delete, and describe of a deleted credential."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from helpers import admin, kafka_error_code, unique_topic

TIMEOUT = 20


def alter(a, alterations) -> dict:
    """user -> None (success) or the KafkaError code of that user's result."""
    out = {}
    for user, fut in a.alter_user_scram_credentials(alterations, request_timeout=15).items():
        try:
            fut.result(timeout=TIMEOUT)
            out[user] = None
        except KafkaException as e:
            out[user] = kafka_error_code(e)
    return out


def describe(a, users) -> dict:
    """user -> sorted [(mechanism, iterations)], or the KafkaError code of that user's result."""
    out = {}
    for user, fut in a.describe_user_scram_credentials(users, request_timeout=15).items():
        try:
            d = fut.result(timeout=TIMEOUT)
            out[user] = sorted((i.mechanism, i.iterations) for i in d.scram_credential_infos)
        except KafkaException as e:
            out[user] = kafka_error_code(e)
    return out


def describe_all(a) -> dict:
    """Every user with credentials: user -> sorted [(mechanism, iterations)]."""
    result = a.describe_user_scram_credentials(request_timeout=15).result(timeout=TIMEOUT)
    return {
        user: sorted((i.mechanism, i.iterations) for i in d.scram_credential_infos)
        for user, d in result.items()
    }


def test_scram_credentials_upsert_describe_restart_delete(broker):
    sha256, sha512 = ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512
    alice, bob = unique_topic("scram-alice"), unique_topic("scram-bob")
    a = admin(broker.bootstrap)

    # Nobody has credentials yet.
    assert describe_all(a) == {}
    assert describe(a, [alice]) == {alice: KafkaError.RESOURCE_NOT_FOUND}

    # Upsert: alice with an explicit salt and password containing NUL bytes (as librdkafka's
    # 0081 test does), bob with a salt the client generates.
    assert alter(a, [
        UserScramCredentialUpsertion(alice, ScramCredentialInfo(sha256, 10000),
                                     b"\x00as\x00word", b"s\x00l\x00"),
        UserScramCredentialUpsertion(bob, ScramCredentialInfo(sha512, 4096), b"bob-secret"),
    ]) == {alice: None, bob: None}
    # A second mechanism for alice.
    assert alter(a, [
        UserScramCredentialUpsertion(alice, ScramCredentialInfo(sha512, 8192), b"other"),
    ]) == {alice: None}
    expected = {alice: [(sha256, 10000), (sha512, 8192)], bob: [(sha512, 4096)]}
    assert describe(a, [alice, bob]) == expected

    # Credentials are cluster metadata: they survive a restart.
    broker.restart()
    a = admin(broker.bootstrap)
    assert describe(a, [alice, bob]) == expected
    assert describe_all(a) == expected

    # Kafka's per-user checks: too few iterations, and a user altered twice in one request
    # (nothing of it applied).
    carol = unique_topic("scram-carol")
    assert alter(a, [
        UserScramCredentialUpsertion(carol, ScramCredentialInfo(sha256, 1000), b"pw"),
    ]) == {carol: KafkaError.UNACCEPTABLE_CREDENTIAL}
    assert alter(a, [
        UserScramCredentialDeletion(bob, sha512),
        UserScramCredentialUpsertion(bob, ScramCredentialInfo(sha256, 4096), b"pw"),
    ]) == {bob: KafkaError.DUPLICATE_RESOURCE}
    assert describe(a, [bob, carol]) == {bob: [(sha512, 4096)],
                                         carol: KafkaError.RESOURCE_NOT_FOUND}

    # Delete: one of alice's mechanisms, then all of bob's; deleting again is RESOURCE_NOT_FOUND.
    assert alter(a, [UserScramCredentialDeletion(alice, sha256),
                     UserScramCredentialDeletion(bob, sha512)]) == {alice: None, bob: None}
    assert describe(a, [alice, bob]) == {alice: [(sha512, 8192)],
                                         bob: KafkaError.RESOURCE_NOT_FOUND}
    assert alter(a, [UserScramCredentialDeletion(bob, sha512)]) == {
        bob: KafkaError.RESOURCE_NOT_FOUND}
    assert alter(a, [UserScramCredentialDeletion(alice, sha512)]) == {alice: None}
    assert describe(a, [alice]) == {alice: KafkaError.RESOURCE_NOT_FOUND}
    assert describe_all(a) == {}

