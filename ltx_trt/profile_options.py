"""The options that pick a profile's artifacts folder: --precision COMPONENT=PRECISION and --keyframes N (export,
build-engines, verify; run takes --precision and derives its keyframe count from --image). Imports click, and
core / commands inside the function that applies them."""

import click

PRECISION_HELP = ("Run a component in another precision than the profile's, e.g. transformer=bf16 (repeatable; "
                  "precisions: fp32, bf16, fp8, nvfp4, int4). Such artifacts live in their own folder.")


def _precisions(ctx, param, values) -> dict[str, str]:
    """`--precision COMPONENT=PRECISION` values as a dict (checked against the profile later)."""
    parsed = {}
    for value in values:
        component, sep, precision = value.partition("=")
        if not sep or not component or not precision:
            raise click.BadParameter(f"{value!r} is not COMPONENT=PRECISION, e.g. transformer=bf16")
        parsed[component.strip()] = precision.strip()
    return parsed


precision_option = click.option("--precision", "precisions", multiple=True, metavar="COMPONENT=PRECISION",
                                callback=_precisions, help=PRECISION_HELP)


keyframes_option = click.option(
    "--keyframes", type=int, default=0, show_default=True, metavar="N",
    help="Also make the transformer graphs for N appended keyframes: `run --image` past frame 0 appends one per "
         "image (--pipeline keyframes: every image). Such artifacts live in their own folder, as run's hint says.")


def profile_with(profile_name: str | None, precisions: dict, keyframes: int = 0):
    """The named profile with --precision and --keyframes applied (the keyframe count range-checked first)."""
    from ltx_trt.commands.request import check_numbers
    from ltx_trt.core.profiles import load_profile, with_keyframes, with_precision

    profile = with_precision(load_profile(profile_name), precisions)
    check_numbers(profile, {"--keyframes": keyframes})
    return with_keyframes(profile, keyframes)
