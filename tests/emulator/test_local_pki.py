"""The local control plane's certificates: what a client dialing the API server by any of its names checks."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from infra.emulator.local_pki import Pki


def test_the_api_server_is_trusted_under_every_name_and_the_admin_is_a_cluster_admin(tmp_path: Path) -> None:
    pki = Pki(tmp_path / "pki")
    pki.create()
    ca = x509.load_pem_x509_certificate((tmp_path / "pki" / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((tmp_path / "pki" / "apiserver.crt").read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("10.96.0.1")} <= set(
        names.get_values_for_type(x509.IPAddress)
    ), "loopback, and the in-cluster `kubernetes` Service's address"
    assert "kubernetes.default.svc.cluster.local" in names.get_values_for_type(x509.DNSName)
    admin = x509.load_pem_x509_certificate((tmp_path / "pki" / "admin.crt").read_bytes())
    admin.verify_directly_issued_by(ca)
    groups = admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert [g.value for g in groups] == ["system:masters"]
    assert (tmp_path / "pki" / "sa.key").is_file() and (tmp_path / "pki" / "sa.pub").is_file()
