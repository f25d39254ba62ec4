"""Argument helpers shared by the sub-commands: help that names each default, and range-checked
numeric types (``positive_int`` and the like) whose errors name the option."""

import argparse


class HelpWithDefaults(argparse.HelpFormatter):
    """Help that names every option's default (unless its text already speaks of it)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("%(default)" in text or "default" in text.lower() or not action.option_strings
                or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS):
            return text
        return f"{text} (default: %(default)s)"


def _number(kind, minimum, strict):
    """An argparse type: a ``kind`` (int or float) >= minimum (> minimum if strict)."""
    word = "an integer" if kind is int else "a number"
    bound = f"> {minimum}" if strict else f">= {minimum}"

    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {word} {bound}, got {text!r}") from None
        if value != value or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"must be {word} {bound}, got {text!r}")
        return value

    parse.__name__ = f"{kind.__name__} {bound}"
    parse.__doc__ = f"argparse type: {word} {bound}, or an error naming the option."
    return parse


positive_int = _number(int, 1, False)
nonnegative_int = _number(int, 0, False)
positive_float = _number(float, 0, True)
nonnegative_float = _number(float, 0, False)
