"""A test camera: a Y4M file whose frames show red, green, blue and white quadrants (BT.601 limited range)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["QUADRANTS", "write_quadrants_y4m"]

QUADRANTS = {(0, 0): (255, 0, 0), (1, 0): (0, 255, 0), (0, 1): (0, 0, 255), (1, 1): (255, 255, 255)}


def _yuv(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    return round(y), round(u), round(v)


def write_quadrants_y4m(path: Path, width: int = 640, height: int = 480, frames: int = 2) -> Path:
    half_w, half_h = width // 2, height // 2
    y_plane, u_plane, v_plane = bytearray(), bytearray(), bytearray()
    for row in range(height):
        for col in range(width):
            y_plane.append(_yuv(QUADRANTS[(col // half_w, row // half_h)])[0])
    for row in range(height // 2):
        for col in range(width // 2):
            _, u, v = _yuv(QUADRANTS[(col // (half_w // 2), row // (half_h // 2))])
            u_plane.append(u)
            v_plane.append(v)
    frame = b"FRAME\n" + bytes(y_plane) + bytes(u_plane) + bytes(v_plane)
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode() + frame * frames)
    return path
