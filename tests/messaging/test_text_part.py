from messaging.services.templates import html_to_text


def test_text_part_of_an_html_email_reads_like_the_email():
    markup = (
        "<html><head><title>T</title><style>p {color: red}</style></head><body>"
        "<h1>Order shipped</h1><p>Hello &lt;Ann&gt;,</p><p>Thanks.<br>The team</p>"
        "<script>alert(1)</script></body></html>"
    )
    assert html_to_text(markup) == "Order shipped\nHello <Ann>,\nThanks.\nThe team"


def test_blank_lines_collapse():
    assert html_to_text("<p>a</p><p></p><p></p><p>b</p>") == "a\n\nb"
