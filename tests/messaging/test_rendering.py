import pytest

from core.sms import is_gsm7, sms_info
from messaging.rendering import (
    CompiledTemplate,
    MissingPlaceholder,
    TemplateSyntaxError,
    compile_template,
    placeholders_of,
    render,
)

# --- rendering ---------------------------------------------------------------------------


def test_render_substitutes_values():
    assert render("Your code is {{otp}}, order {{orderId}}", {"otp": "4821", "orderId": 17}) == (
        "Your code is 4821, order 17"
    )


def test_whitespace_inside_braces_is_ignored():
    assert render("Hi {{ name }}!{{\tname\t}}", {"name": "Ana"}) == "Hi Ana!Ana"


def test_numeric_and_hyphenated_names():
    assert render("{{1}} / {{awb-number}}", {"1": "first", "awb-number": "AWB-9"}) == (
        "first / AWB-9"
    )


def test_dotted_name_walks_nested_dicts():
    data = {"customer": {"name": "Ana", "address": {"city": "Cluj"}}}
    assert render("{{customer.name}} in {{ customer.address.city }}", data) == "Ana in Cluj"


def test_flat_key_with_dot_is_preferred_over_nested_lookup():
    data = {"customer.name": "flat", "customer": {"name": "nested"}}
    assert render("{{customer.name}}", data) == "flat"


def test_value_conversions():
    data = {"yes": True, "no": False, "n": 3, "f": 3.0, "d": {"a": "ă", "b": [1, 2]}, "l": [1]}
    assert render("{{yes}} {{no}} {{n}} {{f}} {{d}} {{l}}", data) == (
        'true false 3 3.0 {"a":"ă","b":[1,2]} [1]'
    )


def test_falsy_but_present_values_render():
    assert render("[{{a}}][{{b}}][{{c}}]", {"a": "", "b": 0, "c": False}) == "[][0][false]"


def test_literal_single_braces_are_kept():
    assert render('{"code": "{{otp}}"} {x}', {"otp": "12"}) == '{"code": "12"} {x}'


def test_template_without_placeholders_renders_verbatim():
    assert render("plain text", {}) == "plain text"
    assert render("", {}) == ""


def test_repeated_placeholder_renders_everywhere():
    assert render("{{a}}-{{a}}-{{a}}", {"a": "x"}) == "x-x-x"


def test_compiled_template_is_reusable_and_immutable():
    tpl = compile_template("Hello {{name}}")
    assert isinstance(tpl, CompiledTemplate)
    assert tpl.placeholders == ("name",)
    assert [tpl.render({"name": n}) for n in ("A", "B")] == ["Hello A", "Hello B"]
    with pytest.raises(AttributeError):
        tpl.source = "other"  # type: ignore[misc]


# --- missing values and sandboxing -------------------------------------------------------


def test_missing_placeholder_raises_with_name():
    with pytest.raises(MissingPlaceholder) as exc:
        render("Code {{otp}}", {"code": "1"})
    assert exc.value.name == "otp"
    assert isinstance(exc.value, KeyError)
    assert "otp" in str(exc.value)


def test_none_counts_as_missing():
    with pytest.raises(MissingPlaceholder) as exc:
        render("Code {{otp}}", {"otp": None})
    assert exc.value.name == "otp"


def test_missing_nested_key_reports_full_dotted_name():
    with pytest.raises(MissingPlaceholder) as exc:
        render("{{customer.name}}", {"customer": {"email": "a@b.c"}})
    assert exc.value.name == "customer.name"


def test_non_mapping_intermediate_is_missing():
    with pytest.raises(MissingPlaceholder) as exc:
        render("{{customer.name}}", {"customer": "Ana"})
    assert exc.value.name == "customer.name"


def test_no_attribute_access():
    class Obj:
        secret = "leaked"

    with pytest.raises(MissingPlaceholder) as exc:
        render("{{x.__class__}}", {"x": Obj()})
    assert exc.value.name == "x.__class__"
    with pytest.raises(MissingPlaceholder):
        render("{{x.secret}}", {"x": Obj()})


def test_no_list_indexing():
    with pytest.raises(MissingPlaceholder):
        render("{{items.0}}", {"items": ["first"]})


def test_data_must_be_a_mapping():
    with pytest.raises(TypeError):
        render("{{a}}", ["a"])  # type: ignore[arg-type]


# --- placeholders_of ---------------------------------------------------------------------


def test_placeholders_of_unique_in_order_of_first_appearance():
    source = "{{b}} {{ a }} {{b}} {{customer.name}} {{a}}"
    assert placeholders_of(source) == ["b", "a", "customer.name"]


def test_placeholders_of_without_placeholders():
    assert placeholders_of("no {placeholders} here") == []


# --- syntax errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "position", "reason"),
    [
        ("Hi {{name", 3, "unclosed placeholder '{{' at position 3"),
        ("Hi {{}}", 3, "empty placeholder at position 3"),
        ("Hi {{   }}", 3, "empty placeholder at position 3"),
        ("{{ a b }}", 0, "invalid placeholder name 'a b' at position 0"),
        ("x{{%x}}", 1, "invalid placeholder name '%x' at position 1"),
        ("{{a.}}", 0, "invalid placeholder name 'a.' at position 0"),
        ("oops }} here", 5, "unexpected '}}' without an opening '{{' at position 5"),
        ("{{a}} b}}", 7, "unexpected '}}' without an opening '{{' at position 7"),
        ("{{ {{x}} }}", 3, "nested placeholder '{{' at position 3"),
    ],
)
def test_syntax_errors_report_reason_and_position(source, position, reason):
    with pytest.raises(TemplateSyntaxError) as exc:
        compile_template(source)
    assert exc.value.position == position
    assert str(exc.value) == reason
    assert isinstance(exc.value, ValueError)


def test_syntax_error_raised_by_render_and_placeholders_of():
    with pytest.raises(TemplateSyntaxError):
        render("{{x", {"x": 1})
    with pytest.raises(TemplateSyntaxError):
        placeholders_of("{{x")


# --- HTML escaping -----------------------------------------------------------------------


def test_escape_html_escapes_values_only():
    assert render("<b>{{x}}</b>", {"x": "<script>"}, escape_html=True) == "<b>&lt;script&gt;</b>"


def test_escape_html_escapes_quotes_and_ampersand():
    out = render('<a title="{{t}}">', {"t": 'Tom & "Jerry" \'s'}, escape_html=True)
    assert out == '<a title="Tom &amp; &quot;Jerry&quot; &#x27;s">'


def test_no_escaping_by_default():
    assert render("<b>{{x}}</b>", {"x": "<i>"}) == "<b><i></b>"


# --- SMS encoding and segments -----------------------------------------------------------


def test_empty_text_is_zero_segments():
    info = sms_info("")
    assert (info.encoding, info.units, info.segments, info.remaining) == ("GSM-7", 0, 0, 160)


@pytest.mark.parametrize(
    ("length", "segments", "remaining"),
    [(1, 1, 159), (160, 1, 0), (161, 2, 145), (306, 2, 0), (307, 3, 152)],
)
def test_gsm7_segment_boundaries(length, segments, remaining):
    info = sms_info("a" * length)
    assert info.encoding == "GSM-7"
    assert info.units == length
    assert info.segments == segments
    assert info.remaining == remaining
    assert info.per_segment == (160 if segments == 1 else 153)


def test_161_gsm_chars_split_153_plus_8():
    info = sms_info("a" * 161)
    assert info.per_segment * info.segments - info.remaining == 153 + 8


def test_extension_chars_count_two_and_stay_gsm7():
    for ch in "€[]{}^~|\\\x0c":
        info = sms_info(ch)
        assert info.encoding == "GSM-7", ch
        assert (info.characters, info.units) == (1, 2), ch


def test_extension_char_pushes_over_single_segment():
    info = sms_info("a" * 159 + "€")
    assert (info.encoding, info.characters, info.units, info.segments) == ("GSM-7", 160, 161, 2)


def test_extension_pair_at_153_boundary_fits_single_segment():
    # 152 'a' + € = 154 septets: within the 160 single-segment limit, so nothing is split.
    info = sms_info("a" * 152 + "€")
    assert (info.units, info.segments, info.per_segment, info.remaining) == (154, 1, 160, 6)


def test_extension_pair_is_not_split_across_segments():
    # 152 septets + ESC/€ pair + 8 = 162: the pair cannot take the one free septet in segment 1.
    info = sms_info("a" * 152 + "€" + "a" * 8)
    assert info.units == 162
    assert info.segments == 2
    assert info.remaining == 153 - (2 + 8)


def test_extension_pair_moves_whole_to_segment_two():
    info = sms_info("a" * 152 + "€" + "b" * 7)
    # Greedy: segment 1 = 152 'a' (1 septet wasted), segment 2 = € (2) + 7 'b'.
    assert (info.units, info.segments, info.remaining) == (161, 2, 153 - 9)
    # Without the unsplittable pair the same 161 units would leave 145 free.
    assert sms_info("a" * 161).remaining == 145


def test_gsm7_basic_table_specials():
    text = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà"
    assert is_gsm7(text)
    info = sms_info(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text)


@pytest.mark.parametrize("ch", ["ç", "`", "á", "ж", "\u2126", "\x1b"])
def test_non_gsm_chars_force_ucs2(ch):
    # "\u2126" (OHM SIGN) looks like Greek Omega but is not in the GSM table.
    assert not is_gsm7("hello " + ch)
    assert sms_info("hello " + ch).encoding == "UCS-2"


def test_emoji_is_two_ucs2_units_one_character():
    info = sms_info("😀")
    assert (info.encoding, info.characters, info.units, info.segments) == ("UCS-2", 1, 2, 1)
    assert info.remaining == 68


@pytest.mark.parametrize(
    ("length", "segments", "per_segment", "remaining"),
    [(70, 1, 70, 0), (71, 2, 67, 63), (134, 2, 67, 0), (135, 3, 67, 66)],
)
def test_ucs2_segment_boundaries(length, segments, per_segment, remaining):
    info = sms_info("ж" * length)
    assert (info.encoding, info.units, info.segments) == ("UCS-2", length, segments)
    assert (info.per_segment, info.remaining) == (per_segment, remaining)


def test_surrogate_pair_at_67_boundary_fits_single_segment():
    # 66 'ж' + 😀 = 68 units: within the 70 single-segment limit.
    info = sms_info("ж" * 66 + "😀")
    assert (info.units, info.segments, info.per_segment, info.remaining) == (68, 1, 70, 2)


def test_surrogate_pair_is_not_split_across_segments():
    info = sms_info("ж" * 66 + "😀" + "ж" * 3)
    assert info.units == 71
    # Segment 1 holds 66 units (the pair does not fit in the 1 left), segment 2 holds 2 + 3.
    assert (info.segments, info.per_segment, info.remaining) == (2, 67, 62)


def test_as_dict_uses_camel_case_keys():
    assert sms_info("hi").as_dict() == {
        "encoding": "GSM-7",
        "characters": 2,
        "units": 2,
        "segments": 1,
        "perSegment": 160,
        "remainingInSegment": 158,
    }
