"""How the hand looks: skin tone, sleeve colour, size; and a few preset skin tones (light to dark)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Skin tones, roughly spanning the Monk / Fitzpatrick scales (sRGB in [0, 1]).
SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "very_light": (0.96, 0.82, 0.74),
    "light": (0.90, 0.72, 0.60),
    "medium": (0.78, 0.57, 0.43),
    "tan": (0.64, 0.44, 0.31),
    "brown": (0.46, 0.30, 0.20),
    "dark": (0.30, 0.19, 0.13),
}

SLEEVE_COLOURS: dict[str, tuple[float, float, float]] = {
    "navy": (0.12, 0.16, 0.30),
    "grey": (0.42, 0.43, 0.45),
    "green": (0.20, 0.33, 0.22),
    "red": (0.50, 0.12, 0.12),
    "white": (0.88, 0.88, 0.86),
}


@dataclass(frozen=True)
class HandStyle:
    """Appearance and size of a hand.

    Attributes:
        skin: skin RGB in [0, 1] (see :data:`SKIN_TONES`).
        sleeve: sleeve (cloth) RGB in [0, 1].
        scale: uniform size factor (1.0 = adult hand, wrist to middle knuckle 9.5 cm).
        specular, shininess: skin highlight strength and tightness (MuJoCo material, both in [0, 1]).
        palm_lightening: how much lighter the palm side is than the back at the lightest tone (0 = same colour);
            darker tones get proportionally lighter palms, as real hands do.
    """

    skin: tuple[float, float, float] = SKIN_TONES["light"]
    sleeve: tuple[float, float, float] = SLEEVE_COLOURS["navy"]
    scale: float = 1.0
    specular: float = 0.25
    shininess: float = 0.35
    palm_lightening: float = 0.15

    @classmethod
    def preset(cls, tone: str, sleeve: str = "navy", scale: float = 1.0) -> "HandStyle":
        """A style from the preset names in :data:`SKIN_TONES` and :data:`SLEEVE_COLOURS`."""
        if tone not in SKIN_TONES:
            raise KeyError(f"unknown skin tone {tone!r}; choose from {sorted(SKIN_TONES)}")
        if sleeve not in SLEEVE_COLOURS:
            raise KeyError(f"unknown sleeve colour {sleeve!r}; choose from {sorted(SLEEVE_COLOURS)}")
        return cls(skin=SKIN_TONES[tone], sleeve=SLEEVE_COLOURS[sleeve], scale=scale)

    def lighter(self, amount: float) -> tuple[float, float, float]:
        """The skin colour blended ``amount`` of the way towards a pale pink (palms, nails)."""
        pink = (1.0, 0.84, 0.78)
        return tuple(s + (p - s) * amount for s, p in zip(self.skin, pink))  # type: ignore[return-value]

    @property
    def palm(self) -> tuple[float, float, float]:
        """Palm-side colour: lighter and pinker than the back, more so for darker skin."""
        luminance = float(np.dot(self.skin, (0.299, 0.587, 0.114)))
        return self.lighter(self.palm_lightening + 0.35 * (1.0 - luminance))

    @property
    def nail(self) -> tuple[float, float, float]:
        return self.lighter(0.45)

    def skin_texture(self, size: int = 32) -> np.ndarray:
        """size×size×3 uint8 skin colours: column u = how much a point faces palmwards (0 back, 1 palm),
        row v = how much it lies on a knuckle or joint crease (darker, redder)."""
        u = np.linspace(0.0, 1.0, size)
        t = np.clip((u - 0.35) / 0.3, 0.0, 1.0)
        t = t * t * (3 - 2 * t)  # smoothstep: a soft boundary at the sides of the fingers and palm
        base = (1 - t)[:, None] * np.asarray(self.skin) + t[:, None] * np.asarray(self.palm)  # size×3
        crease = base * np.array([0.80, 0.66, 0.64])
        v = np.linspace(0.0, 1.0, size)[:, None, None] * 0.55
        img = (1 - v) * base[None] + v * crease[None]
        return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)
