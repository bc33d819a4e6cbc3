"""How different two colours look: CIE Lab, the CIEDE2000 colour difference (ΔE), and a
simulation of the three dichromacies, so the palette's distinctness is a number a test checks.

ΔE2000 of about 2 is a just noticeable difference side by side; tokens are read apart in
running text, so the palette asks for far more (see tests/test_palette.py). The dichromacy
matrices are Machado, Oliveira and Fernandes (2009), severity 1.0, applied in linear sRGB.
"""

from __future__ import annotations

import math

Lab = tuple[float, float, float]

# sRGB (D65) to CIE XYZ, and the D65 white point.
_XYZ = ((0.4124564, 0.3575761, 0.1804375),
        (0.2126729, 0.7151522, 0.0721750),
        (0.0193339, 0.1191920, 0.9503041))  # fmt: skip
_WHITE = (0.95047, 1.0, 1.08883)

# Machado et al. 2009, severity 1.0: how a dichromat's eye maps linear RGB.
DICHROMACY = {
    "protanopia": ((0.152286, 1.052583, -0.204868),
                   (0.114503, 0.786281, 0.099216),
                   (-0.003882, -0.048116, 1.051998)),
    "deuteranopia": ((0.367322, 0.860646, -0.227968),
                     (0.280085, 0.672501, 0.047413),
                     (-0.011820, 0.042940, 0.968881)),
    "tritanopia": ((1.255528, -0.076749, -0.178779),
                   (-0.078411, 0.930809, 0.147602),
                   (0.004733, 0.691367, 0.303900)),
}  # fmt: skip


def linear_rgb(hex_colour: str) -> tuple[float, float, float]:
    """'#RRGGBB' as linear-light RGB in [0, 1]."""
    h = hex_colour.lstrip("#")
    if len(h) != 6:
        raise ValueError(f"not a #RRGGBB colour: {hex_colour!r}")

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(int(h[i : i + 2], 16) / 255) for i in (0, 2, 4))
    return r, g, b


def _mul(m, v) -> tuple[float, float, float]:
    r, g, b = (sum(m[i][j] * v[j] for j in range(3)) for i in range(3))
    return r, g, b


def lab_of_linear(rgb: tuple[float, float, float]) -> Lab:
    def f(t: float) -> float:
        return t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116

    x, y, z = (f(c / w) for c, w in zip(_mul(_XYZ, rgb), _WHITE, strict=True))
    return 116 * y - 16, 500 * (x - y), 200 * (y - z)


def lab(hex_colour: str, vision: str = "normal") -> Lab:
    """CIE Lab of a colour as seen with `vision`: "normal", a DICHROMACY key, or "grey"
    (lightness only, as on a greyscale print)."""
    rgb = linear_rgb(hex_colour)
    if vision == "grey":
        return lab_of_linear(rgb)[0], 0.0, 0.0
    if vision != "normal":
        clip = (min(1.0, max(0.0, c)) for c in _mul(DICHROMACY[vision], rgb))
        rgb = tuple(clip)
    return lab_of_linear(rgb)


def delta_e(first: Lab, second: Lab) -> float:
    """CIEDE2000 colour difference (Sharma, Wu and Dalal's formulation)."""
    l1, a1, b1 = first
    l2, a2, b2 = second
    c_mean = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_mean**7 / (c_mean**7 + 25**7)))
    a1, a2 = (1 + g) * a1, (1 + g) * a2
    c1, c2 = math.hypot(a1, b1), math.hypot(a2, b2)
    h1 = math.degrees(math.atan2(b1, a1)) % 360
    h2 = math.degrees(math.atan2(b2, a2)) % 360
    dh = 0.0 if c1 * c2 == 0 else (h2 - h1 + 180) % 360 - 180
    dl, dc = l2 - l1, c2 - c1
    dhh = 2 * math.sqrt(c1 * c2) * math.sin(math.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1 + c2) / 2
    if c1 * c2 == 0:
        h_mean = h1 + h2
    elif abs(h1 - h2) <= 180:
        h_mean = (h1 + h2) / 2
    else:
        h_mean = (h1 + h2 + (360 if h1 + h2 < 360 else -360)) / 2

    def cos(deg: float) -> float:
        return math.cos(math.radians(deg))

    t = 1 - 0.17 * cos(h_mean - 30) + 0.24 * cos(2 * h_mean)
    t += 0.32 * cos(3 * h_mean + 6) - 0.20 * cos(4 * h_mean - 63)
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / math.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * c_mean
    s_h = 1 + 0.015 * c_mean * t
    rotation = 30 * math.exp(-(((h_mean - 275) / 25) ** 2))
    r_t = -math.sin(math.radians(2 * rotation)) * 2 * math.sqrt(c_mean**7 / (c_mean**7 + 25**7))
    terms = (dl / s_l, dc / s_c, dhh / s_h)
    return math.sqrt(sum(x * x for x in terms) + r_t * terms[1] * terms[2])


def difference(first: str, second: str, vision: str = "normal") -> float:
    """ΔE2000 between two '#RRGGBB' colours as seen with `vision`."""
    return delta_e(lab(first, vision), lab(second, vision))


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio (1 to 21) of two colours, e.g. text on its background."""

    def luminance(colour: str) -> float:
        r, g, b = linear_rgb(colour)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    low, high = sorted((luminance(first), luminance(second)))
    return (high + 0.05) / (low + 0.05)
