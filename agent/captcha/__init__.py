"""Captcha solving with ddddocr: text images (classification) and jigsaw sliders (slide_match)."""

from agent.captcha.solver import CaptchaSolver, CaptchaStats, clean_text

__all__ = ["CaptchaSolver", "CaptchaStats", "clean_text"]
