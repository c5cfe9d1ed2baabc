"""The imaging stages' graph: the image is registered before its sources are found."""

from __future__ import annotations

import pytest

from contimg.config import load_settings
from contimg.workflows import get_workflow


@pytest.mark.parametrize("name", ["standard", "quicklook", "reprocessing"])
def test_register_image_comes_before_the_assessment(name: str) -> None:
    workflow = get_workflow(name, load_settings(environ={}).settings)
    deps = workflow.dependencies
    assert deps["register_image"] == {"image"}
    assert deps["assess_image"] == {"image", "register_image"}
    assert deps["record_assessment"] == {"register_image", "assess_image"}
    position = {stage: i for i, stage in enumerate(workflow.order)}
    assert position["image"] < position["register_image"] < position["assess_image"]
    assert position["assess_image"] < position["record_assessment"]
    assert workflow.producers["verdict"] == "record_assessment"
    if name != "quicklook":
        assert "record_assessment" in deps["photometry"]
        assert position["record_assessment"] < position["photometry"]
