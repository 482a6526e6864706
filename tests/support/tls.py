"""A throwaway certificate authority and the certificates tests need, made with the ``openssl`` CLI.

The server certificate names ``localhost`` and ``127.0.0.1``, so clients verify it against the
test CA with host-name checking on, as they would in production. Keys are EC P-256: quick to make,
and read by Python's ssl, Erlang's public_key (RabbitMQ) and uvicorn alike.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

DAYS = "2"
CURVE = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class Pair:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server: Pair
    client: Pair
    # A CA that signed none of these: a client trusting only it must refuse the servers.
    stranger_ca: Path

    def client_context(self) -> ssl.SSLContext:
        """What a client that trusts only the test CA uses (host names checked)."""
        return ssl.create_default_context(cafile=str(self.ca))


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr.strip()}")


def _authority(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    _openssl(
        "req", "-x509", *CURVE, "-keyout", key.name, "-out", cert.name, "-days", DAYS,
        "-subj", f"/CN=Laneyard test {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=folder,
    )  # fmt: skip
    return cert, key


def _signed(folder: Path, name: str, ca: tuple[Path, Path], extensions: str) -> Pair:
    cert, key, request, ext = (folder / f"{name}{s}" for s in (".pem", ".key", ".csr", ".ext"))
    ext.write_text(
        extensions + "\nbasicConstraints=CA:FALSE\nsubjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid:always\n"
    )
    _openssl("req", *CURVE, "-keyout", key.name, "-out", request.name, "-subj", f"/CN={name}", cwd=folder)
    _openssl(
        "x509", "-req", "-in", request.name, "-CA", str(ca[0]), "-CAkey", str(ca[1]),
        "-CAcreateserial", "-out", cert.name, "-days", DAYS, "-extfile", ext.name,
        cwd=folder,
    )  # fmt: skip
    return Pair(cert, key)


def make_certificates(folder: Path) -> Certificates:
    """A CA, a server certificate for localhost/127.0.0.1, a client certificate, and a stranger CA,
    all in ``folder``. Skips the test when the ``openssl`` CLI is missing."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed: no test certificates")
    folder.mkdir(parents=True, exist_ok=True)
    ca = _authority(folder, "ca")
    server = _signed(
        folder,
        "server",
        ca,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature",
    )
    client = _signed(folder, "client", ca, "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature")
    stranger, _ = _authority(folder, "stranger")
    for private in folder.glob("*.key"):
        private.chmod(0o600)
    return Certificates(ca[0], server, client, stranger)
