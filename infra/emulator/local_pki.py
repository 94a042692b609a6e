"""A throwaway CA for the local control plane: the API server's and kwok's kubelet API's serving
certificates, an admin client, the SA key."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

SERVICE_CIDR = "10.96.0.0/16"


@dataclass
class Pki:
    """A throwaway CA, the API server's serving certificate, an admin client certificate, the SA key."""

    dir: Path

    def create(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _cert(_name("v4infra-local-ca"), ca_key, ca_key, _name("v4infra-local-ca"), ca=True)
        self._write("ca", ca, ca_key)
        sans: list[x509.GeneralName] = [
            x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
            # The first address of the service range: the in-cluster `kubernetes` Service.
            x509.IPAddress(next(ipaddress.IPv4Network(SERVICE_CIDR).hosts())),
            *(x509.DNSName(n) for n in ("localhost", "kubernetes", "kubernetes.default.svc")),
            x509.DNSName("kubernetes.default.svc.cluster.local"),
        ]
        key = ec.generate_private_key(ec.SECP256R1())
        self._write("apiserver", _cert(_name("kube-apiserver"), key, ca_key, ca.subject, sans=sans), key)
        # kwok's kubelet API (exec, logs, port-forward) on loopback: the API server verifies it against the CA.
        key = ec.generate_private_key(ec.SECP256R1())
        loopback: list[x509.GeneralName] = [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1"))]
        self._write("kubelet", _cert(_name("kwok-kubelet"), key, ca_key, ca.subject, sans=loopback), key)
        # system:masters: the admin is authorized by group, before RBAC is even bootstrapped.
        key = ec.generate_private_key(ec.SECP256R1())
        admin = _cert(_name("v4infra-admin", "system:masters"), key, ca_key, ca.subject, client=True)
        self._write("admin", admin, key)
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (self.dir / "sa.key").write_bytes(
            sa.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        (self.dir / "sa.pub").write_bytes(
            sa.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def path(self, name: str) -> Path:
        return self.dir / name

    def _write(self, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        (self.dir / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        path = self.dir / f"{name}.key"
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        path.chmod(0o600)


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _cert(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    signer: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    *,
    ca: bool = False,
    client: bool = False,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        usage = (
            x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH if client else x509.oid.ExtendedKeyUsageOID.SERVER_AUTH
        )
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())
