"""Passwords are stored at the production argon2id cost (the other tests hash theirs cheaply: conftest)."""

from __future__ import annotations

import pytest

from watchkeeper.site import identity

pytestmark = pytest.mark.production_kdf


def test_a_password_is_stored_and_checked_at_rfc9106_cost(app) -> None:
    identity.set_password(app, "li", "li-production-pass-1", by="li", via="test")
    stored = app.store.db["logins"].get("li")["hash"]
    # argon2-cffi's defaults, RFC 9106's second recommendation: argon2id, 64 MiB, 3 passes, 4 lanes.
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), stored
    assert identity.check_password(app, "li", "li-production-pass-1", via="test") == "li"
    with pytest.raises(identity.AuthFailed):
        identity.check_password(app, "li", "not-li-s-password", via="test")
