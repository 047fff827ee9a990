def test_send_sms_reaches_delivered(client, sandbox, templates, run_tasks):
    r = run_tasks(
        client.post,
        "/api/v1/messages",
        {"sms": [{"template": "otp", "data": {"otp": "1234"}, "to": ["+14155550100"]}]},
        format="json",
    )
    assert r.status_code == 202, r.content
    mid = r.json()["messages"][0]["messageId"]
    got = client.get(f"/api/v1/messages/{mid}").json()
    assert got["status"]["name"] == "DELIVERED_TO_HANDSET"
    assert got["body"] == "Your Acme code is 1234"
