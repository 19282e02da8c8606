"""check-config renders every template on sample data: an unknown filter is an error
(the router would refuse the template only when compiling it at serve), a name the data
lacks a warning with a suggestion; loops, missing labels and event sources stay quiet."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config.load import check_report

CONFIG = """
route: {{receiver: r}}
templates: [{files}]
receivers:
  - name: r
    slack_configs:
      - api_url: http://s/
        title: '{title}'
sources:
  ci:
    labels: {{alertname: '{{{{ event.name }}}}'}}
"""


def report(tmp_path: Path, title: str, files: str = "", file_text: str = ""
           ) -> tuple[list[str], list[str]]:
    if file_text:
        (tmp_path / "mine.j2").write_text(file_text, encoding="utf-8")
    path = tmp_path / "c.yml"
    path.write_text(CONFIG.format(title=title, files=files), encoding="utf-8")
    return check_report([str(path)])


def test_an_unknown_filter_is_an_error(tmp_path: Path) -> None:
    problems, _ = report(tmp_path, "{{ status | toupper }}")
    assert problems == [f"{tmp_path}/c.yml:8:16: receivers[0].slack_configs[0].title: "
                        "template error: No filter named 'toupper'."]


def test_a_name_the_data_lacks_is_a_warning_with_a_suggestion(tmp_path: Path) -> None:
    problems, warnings = report(tmp_path, "{{ statuss }}: {{ Alerts | length }}")
    assert problems == []
    assert [w.split("warning: ")[1] for w in warnings] == [
        'template uses "statuss", which the template data does not have (it renders empty) '
        '(did you mean "status"?)',
        'template uses "Alerts", which the template data does not have (it renders empty) '
        '(did you mean "alerts"?)',
    ]


@pytest.mark.parametrize("title", [
    "{% for a in alerts %}{{ a.labels.nope }}{{ loop.index }}{% endfor %}",
    "{{ commonLabels.team }} {{ digest.total if digest }}",
    "{% set n = alerts | length %}{{ n }} {{ externalURL }} {{ groupKey }}",
])
def test_what_the_data_has_stays_quiet(tmp_path: Path, title: str) -> None:
    assert report(tmp_path, title) == ([], [])


def test_template_files_are_rendered_too(tmp_path: Path) -> None:
    problems, warnings = report(tmp_path, "x", files="mine.j2",
                                file_text="{{ commonLabel.alertname }}\n")
    assert problems == []
    assert len(warnings) == 1
    assert f'template {tmp_path}/mine.j2 uses "commonLabel"' in warnings[0]
    assert '(did you mean "commonLabels"?)' in warnings[0]
