"""The model registry: artefacts $CMI_DATA_DIR/prm/models/<sha12>.json, two pointer files
(the current model, and the one it replaced, for the report's commentary) and, beside each
artefact, what prm_evaluation measured with it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cmi_assets.prm.artefact import ModelArtefact, model_from_json

MODELS_SUBDIR = ("prm", "models")
CURRENT_MODEL_FILE = "current.txt"  # names the artefact prm_scores uses
PREVIOUS_MODEL_FILE = "previous.txt"  # names the artefact the current one replaced (report commentary)
EVALUATION_SUFFIX = ".evaluation.json"  # beside each artefact: what prm_evaluation measured with it


@dataclass(frozen=True)
class ModelRegistry:
    data_dir: Path

    @property
    def models_dir(self) -> Path:
        path = self.data_dir.joinpath(*MODELS_SUBDIR)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def current(self, pointer_file: str = CURRENT_MODEL_FILE) -> tuple[ModelArtefact | None, Path | None]:
        """(ModelArtefact, path) of the current model (or of the one named by another pointer
        file, e.g. PREVIOUS_MODEL_FILE), or (None, None)."""
        pointer = self.models_dir / pointer_file
        if not pointer.exists():
            return None, None
        path = self.models_dir / pointer.read_text(encoding="utf-8").strip()
        if not path.exists():
            return None, None
        return model_from_json(path.read_text(encoding="utf-8")), path

    def previous(self) -> tuple[ModelArtefact | None, Path | None]:
        return self.current(PREVIOUS_MODEL_FILE)

    def register(self, json_text: str, sha: str) -> Path:
        """Write the artefact and make it current; the model it replaces becomes the previous one."""
        path = self.models_dir / f"{sha[:12]}.json"
        path.write_text(json_text, encoding="utf-8")
        _, replaced = self.current()
        if replaced is not None and replaced.name != path.name:  # the report compares the two
            (self.models_dir / PREVIOUS_MODEL_FILE).write_text(replaced.name, encoding="utf-8")
        (self.models_dir / CURRENT_MODEL_FILE).write_text(path.name, encoding="utf-8")
        return path

    def evaluation_path(self, version: str) -> Path:
        return self.models_dir / f"{version}{EVALUATION_SUFFIX}"

    def read_evaluation(self, version: str) -> dict | None:
        path = self.evaluation_path(version)
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None

    def write_evaluation(self, version: str, summary: dict) -> None:
        self.evaluation_path(version).write_text(json.dumps(summary, indent=2, sort_keys=True), encoding="utf-8")
