"""Admin login is throttled (django-axes): after 5 wrong passwords for one username from one
address, even the right password is refused for a while; others are not locked out."""

from django.test import Client

from tests.factories import staff_user

PASSWORD = "pw-Secret-123"


def login(client: Client, username: str, password: str, ip: str = "10.0.0.7"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def test_five_wrong_passwords_lock_the_pair_out(db):
    staff_user("alice", password=PASSWORD)
    c = Client()
    for _ in range(4):
        assert login(c, "alice", "wrong").status_code == 200  # the form, with its error
    assert login(c, "alice", "wrong").status_code == 429  # the fifth locks the pair out
    locked = login(c, "alice", PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in c.session
    # The same user from another address, and another user, still get in.
    assert login(Client(), "alice", PASSWORD, ip="10.0.0.8").status_code == 302
    staff_user("bob", password=PASSWORD)
    assert login(Client(), "bob", PASSWORD).status_code == 302


def test_a_success_resets_the_count(db):
    staff_user("carol", password=PASSWORD)
    for _ in range(4):
        login(Client(), "carol", "wrong")
    assert login(Client(), "carol", PASSWORD).status_code == 302
    for _ in range(4):
        login(Client(), "carol", "wrong")
    assert login(Client(), "carol", PASSWORD).status_code == 302
