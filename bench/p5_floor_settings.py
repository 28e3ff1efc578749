"""The production settings with bench/p5_floor_urls.py as the URLconf (bench/p5_floor.py)."""

from micro_platform.settings.production import *  # noqa: F403

ROOT_URLCONF = "p5_floor_urls"
