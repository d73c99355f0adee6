"""``mapay platform-key`` and ``mapay merchant set-rsa-key`` beside a running gateway (epay V2)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cli.test_cli import cli_env, mapay, mapay_json  # noqa: F401  (cli_env is a fixture)
from tests.ops.served import Served, add_code, server_env, serving
from tests.support.epay_v2_client import V2Merchant, create_fields

WITHIN_SECONDS = 3.0


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误：") and "Traceback" not in result.stderr, result.stderr
    return lines[0]


async def _create(http: aiohttp.ClientSession, served: Served, client: V2Merchant) -> dict[str, object]:
    async with http.post(served.url + "/api/pay/create", data=client.sign(create_fields())) as response:
        answer: dict[str, object] = await response.json(content_type=None)
        return answer


async def _within(seconds: float, check: object) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not await check():  # type: ignore[operator]
        assert loop.time() - started < seconds, f"not within {seconds} s"
        await asyncio.sleep(0.1)


async def test_keys_registered_from_the_cli_are_followed_by_the_running_gateway(tmp_path: Path) -> None:
    async with serving(server_env(tmp_path / "data"), tmp_path / "serve.log") as served:
        body = served.cli("platform-key").stdout.strip()
        assert "\n" not in body and "BEGIN" not in body
        assert served.cli_json("platform-key") == {"public_key": body}
        pem = served.cli("platform-key", "--pem").stdout
        assert pem.startswith("-----BEGIN PUBLIC KEY-----\n") and "".join(pem.splitlines()[1:-1]) == body

        merchant = served.cli_json("merchant", "add", "小店")
        add_code(served)
        pid = str(merchant["pid"])
        first, second = V2Merchant.new(merchant["pid"], body), V2Merchant.new(merchant["pid"], body)
        (tmp_path / "first.pem").write_text(first.public_pem)
        (tmp_path / "second.txt").write_text(second.public_body + "\n")  # bare base64 is accepted too
        shown = served.cli_json("merchant", "set-rsa-key", pid, "--public-key-file", str(tmp_path / "first.pem"))
        assert shown["rsa_public_key"] == first.public_body

        async with aiohttp.ClientSession() as http:
            answer = await _create(http, served, first)
            assert answer["code"] == 0 and first.verifies(answer)  # signed with the key the CLI printed
            served.cli_json("merchant", "set-rsa-key", pid, "--public-key-file", str(tmp_path / "second.txt"))

            async def old_refused_new_accepted() -> bool:
                old, new = await _create(http, served, first), await _create(http, served, second)
                return old["code"] != 0 and old["msg"] == "签名错误" and new["code"] == 0

            await _within(WITHIN_SECONDS, old_refused_new_accepted)
            served.cli_json("merchant", "set-rsa-key", pid, "--clear")

            async def cleared() -> bool:
                answer = await _create(http, served, second)
                return answer["code"] != 0 and "RSA 公钥" in str(answer["msg"])

            await _within(WITHIN_SECONDS, cleared)


@pytest.fixture
def env(cli_env: dict[str, str]) -> dict[str, str]:  # noqa: F811
    """A data folder with merchant 1 and no gateway running: key checks need none."""
    mapay_json(cli_env, "merchant", "add", "小店")
    return cli_env


def _ec_public_pem() -> str:
    return ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize(
    "content, words",
    [
        ("not a key at all", "公钥格式错误"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "公钥格式错误"),
        ("EC", "不是 RSA 公钥"),
        ("PRIVATE", "私钥"),
        ("", "公钥为空"),
    ],
)
def test_a_bad_key_file_is_one_chinese_line_and_exit_2(
    env: dict[str, str], tmp_path: Path, content: str, words: str
) -> None:
    if content == "EC":
        content = _ec_public_pem()
    elif content == "PRIVATE":
        content = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n"
    path = tmp_path / "key.pem"
    path.write_text(content)
    assert words in _refused(mapay(env, "merchant", "set-rsa-key", "1", "--public-key-file", str(path), ok=False))


def test_an_unknown_merchant_or_missing_file_is_one_chinese_line(env: dict[str, str], tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(V2Merchant.new(1, "").public_pem)
    assert "不存在" in _refused(mapay(env, "merchant", "set-rsa-key", "99", "--public-key-file", str(key), ok=False))
    missing = str(tmp_path / "nope.pem")
    assert "找不到" in _refused(mapay(env, "merchant", "set-rsa-key", "1", "--public-key-file", missing, ok=False))


def test_platform_key_is_made_once_and_printed_the_same_every_time(env: dict[str, str]) -> None:
    body = mapay(env, "platform-key").stdout.strip()
    assert mapay_json(env, "platform-key") == {"public_key": body}
    assert mapay(env, "platform-key").stdout.strip() == body
