"""The pseudonymisation secret comes from the environment, or a per-lake key file created private."""

from __future__ import annotations

import hashlib
import hmac
import stat

from interaction_lake.privacy import SECRET_ENV, pseudonym_py, secret_for


def test_secret_from_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "from-vault")
    assert secret_for(tmp_path) == b"from-vault"
    assert not (tmp_path / "_system" / "pseudonym.key").exists()


def test_local_secret_is_created_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    first = secret_for(tmp_path)
    key_file = tmp_path / "_system" / "pseudonym.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) == 64 and secret_for(tmp_path) == first
    assert secret_for(tmp_path / "other") != first


def test_pseudonym_is_hmac_sha256():
    assert pseudonym_py("C00000001", b"k") == hmac.new(b"k", b"C00000001", hashlib.sha256).hexdigest()
    assert pseudonym_py("C00000001", b"k") != pseudonym_py("C00000001", b"other")
