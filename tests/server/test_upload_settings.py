"""Upload quotas come from Settings (LUCARNE_UPLOAD_<FIELD>), validated at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import ConfigError, Settings, UploadSettings


def test_upload_quotas_are_read_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env({"LUCARNE_UPLOAD_USER_BYTES_MAX": "1048576", "LUCARNE_UPLOAD_STILLS_PER_WINDOW": "5"},
                                 var_dir=tmp_path)
    assert settings.uploads.user_bytes_max == 1048576 and settings.uploads.stills_per_window == 5
    assert settings.uploads.attachments_per_request == UploadSettings().attachments_per_request


@pytest.mark.parametrize("value", ["lots", "0", "-3"])
def test_a_bad_upload_quota_stops_the_start(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="STILLS_PER_CASE|stills_per_case"):
        Settings.from_env({"LUCARNE_UPLOAD_STILLS_PER_CASE": value}, var_dir=tmp_path)
