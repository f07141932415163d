"""OCR and faces run offline: no connection attempted, no model file fetched, nothing logged by RapidOCR."""

from __future__ import annotations

import json
import subprocess
import sys

from tests import stage_photos
from tests.reliability.conftest import TRIALS
from tests.reliability.helpers import ROOT, child_env
from tests.reliability.test_secrets_and_network import GUARD, OFFLINE_SWITCHES

STAGES_ON = {"PHOTOLIB_OCR_ENABLED": "true", "PHOTOLIB_FACES_ENABLED": "true"}


def guarded_photolib(tmp_path, library, *args) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`photolib args` with OCR and faces on, in a process whose every way to the network is recorded and
    refused (see test_secrets_and_network)."""
    log = tmp_path / f"network-{len(list(tmp_path.glob('network-*')))}.log"
    env = child_env({"NETWORK_GUARD_LOG": str(log), **STAGES_ON})
    for name in OFFLINE_SWITCHES:
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-c", GUARD, "-L", str(library), *args], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=300)
    return result, log.read_text().splitlines() if log.exists() else []


def test_ocr_and_faces_make_no_network_connection(tmp_path):
    pictures = tmp_path / "pics"
    stage_photos.receipt(pictures / "scan.jpg")
    stage_photos.save(stage_photos.astronaut(), pictures / "portrait.jpg")
    library = tmp_path / "library"
    result, attempts = guarded_photolib(tmp_path, library, "add", str(pictures), "--json")
    assert attempts == [], attempts
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    stages = json.loads(result.stdout)["stages"]
    assert stages["ocr"]["found"] == 1 and stages["faces"]["faces"] == 1
    assert "RapidOCR" not in result.stderr and "[INFO]" not in result.stderr  # its INFO logging is silenced
    result, attempts = guarded_photolib(tmp_path, library, "search", "invoice", "--json")
    assert attempts == [] and json.loads(result.stdout)[0]["path"].endswith("scan.jpg")
    TRIALS["guarded OCR and face stages (no connection attempted)"] += 1
