"""The epay V2 RSA signature: SHA256withRSA (PKCS#1 v1.5) over the V1 canonical string, base64.

Keys travel as bare base64 bodies on one line (the X.509 SubjectPublicKeyInfo of a public key), which is
what 彩虹易支付 V2 and its merchant plugins exchange; PEM armour is accepted on input. Everything
cryptographic is ``cryptography``'s; this module only shapes keys and values.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from agent.epay import canonical_string

SIGN_TYPE = "RSA"
KEY_BITS = 2048
MIN_KEY_BITS = 2048
_PEM_LINE = re.compile(r"-----(BEGIN|END) [A-Z0-9 ]+-----")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_KEY_TEXT_MAX = 16 * 1024


class KeyFormatError(ValueError):
    """A key that cannot be used; the message (Chinese) says what is wrong with it."""


def public_key_body(key: rsa.RSAPublicKey) -> str:
    """The bare base64 of the DER SubjectPublicKeyInfo, one line, as epay V2 peers exchange it."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def public_key_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """An RSA public key pasted as PEM (``PUBLIC KEY`` or ``RSA PUBLIC KEY``) or as a bare base64 body.

    Raises KeyFormatError for anything else: not base64, a private key, a key that is not RSA, too short.
    """
    if len(text) > _KEY_TEXT_MAX:
        raise KeyFormatError("公钥内容过长，请只粘贴 RSA 公钥")
    if "PRIVATE KEY" in text:
        raise KeyFormatError("这是私钥，请勿泄露；这里只需要 RSA 公钥（-----BEGIN PUBLIC KEY----- 或其 base64 内容）")
    body = "".join(_PEM_LINE.sub("", text).split())
    if not body:
        raise KeyFormatError("公钥为空，请粘贴 RSA 公钥（PEM 格式或去掉首尾行的 base64 内容）")
    if not _BASE64.fullmatch(body):
        raise KeyFormatError("公钥格式错误：应为 PEM 格式或一行 base64 内容")
    try:
        der = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyFormatError("公钥格式错误：base64 内容无法解码") from exc
    key = _parse_der(der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFormatError("不是 RSA 公钥：易支付 V2 只支持 RSA（不支持 EC、Ed25519 等其他类型的密钥）")
    if key.key_size < MIN_KEY_BITS:
        raise KeyFormatError(f"RSA 公钥长度为 {key.key_size} 位，至少需要 {MIN_KEY_BITS} 位")
    return key


def _parse_der(der: bytes) -> object:
    try:
        return serialization.load_der_public_key(der)  # X.509 SubjectPublicKeyInfo, any algorithm
    except (ValueError, UnsupportedAlgorithm):
        pass
    try:
        return serialization.load_der_public_key(_spki_from_pkcs1(der))  # PKCS#1 RSAPublicKey
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KeyFormatError("公钥格式错误：内容不是有效的公钥（应为 X.509 SubjectPublicKeyInfo 或 PKCS#1）") from exc


def _spki_from_pkcs1(der: bytes) -> bytes:
    """Wrap a PKCS#1 RSAPublicKey in a SubjectPublicKeyInfo (rsaEncryption, NULL parameters)."""
    algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
    bit_string = b"\x03" + _der_length(len(der) + 1) + b"\x00" + der
    content = algorithm + bit_string
    return b"\x30" + _der_length(len(content)) + content


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFormatError("不是 RSA 私钥")
    return key


def generate_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def private_key_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def text_of(value: object) -> str:
    """How a value enters the canonical string: numbers in decimal, None as empty (then left out)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    return str(value)


def canonical(params: Mapping[str, object]) -> str:
    """The V1 canonical string over ``params`` (non-string answer values take their text form)."""
    return canonical_string({k: text_of(v) for k, v in params.items() if not isinstance(v, list | dict)})


def sign(params: Mapping[str, object], key: rsa.RSAPrivateKey) -> str:
    signature = key.sign(canonical(params).encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def verify(params: Mapping[str, str], key: rsa.RSAPublicKey) -> bool:
    """Whether ``params['sign']`` is the RSA signature of ``params`` by the holder of ``key``."""
    # A client that put the base64 in a query string without encoding it sends its "+" as spaces.
    given = "".join(params.get("sign", "").replace(" ", "+").split())
    try:
        signature = base64.b64decode(given, validate=True)
    except (binascii.Error, ValueError):
        return False
    if len(signature) != key.key_size // 8:
        return False
    try:
        key.verify(signature, canonical(params).encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def signed(
    params: Mapping[str, object], key: rsa.RSAPrivateKey, timestamp: int, *, keep_empty: bool = False
) -> dict[str, object]:
    """Params with ``timestamp``, ``sign`` and ``sign_type=RSA`` added.

    Empty values are dropped (notifies and returns: epay clients sign every parameter they receive), unless
    ``keep_empty`` (JSON answers keep their keys; the canonical string leaves empty values out either way).
    """
    out: dict[str, object] = {
        k: v for k, v in params.items() if k not in ("sign", "sign_type") and (keep_empty or text_of(v) != "")
    }
    out["timestamp"] = str(timestamp)
    out["sign"] = sign(out, key)
    out["sign_type"] = SIGN_TYPE
    return out
