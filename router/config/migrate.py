"""`alert-router migrate`: an Alertmanager config and its Go templates, made alert-router's.

Alertmanager's keys load here as they are; what does not carry over is Go template syntax.
migrate edits the YAML text in place, so comments, anchors and layout stay:
- each receiver string holding Go actions becomes its Jinja translation
  (`{{ template "slack.default.title" . }}` → `{{ slack_default_title(data) }}`; the
  defaults are templates/alertmanager.j2);
- each `templates:` glob becomes the translated `NAME.tmpl.j2` files, written under
  `templates/` beside the output;
- a relative `*_file` path is rewritten relative to the output's directory.
What it cannot translate is reported as `file:line:col` and marked in the output with a
`{# migrate: … #}` comment; then the result is loaded as check-config loads it.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from router.config.go_templates import macro_name, translate
from router.rendering import MACRO_DEF, default_templates_dir

__all__ = ["Migration", "default_templates", "migrate"]

# Each integration's keys whose Alertmanager default is a named template
# (`Title: {{ template "slack.default.title" . }}`: config/notifiers.go and
# notify/*/config.go). Unset, such a key renders Alertmanager's define, which a team's
# file may redefine; here an unset key renders this router's own default, so migrate
# sets the key to the macro wherever the team redefined it (or a template it calls).
_AM_DEFAULTS: dict[str, dict[str, str]] = {
    "slack_configs": {k: f"slack.default.{v}" for k, v in {
        "color": "color", "username": "username", "title": "title",
        "title_link": "titlelink", "icon_emoji": "iconemoji", "icon_url": "iconurl",
        "pretext": "pretext", "text": "text", "fallback": "fallback",
        "callback_id": "callbackid", "footer": "footer"}.items()},
    "email_configs": {"html": "email.default.html"},
    "pagerduty_configs": {"description": "pagerduty.default.description",
                          "client": "pagerduty.default.client",
                          "client_url": "pagerduty.default.clientURL"},
    "opsgenie_configs": {k: f"opsgenie.default.{k}" for k in
                         ("message", "description", "source")},
    "victorops_configs": {k: f"victorops.default.{k}" for k in
                          ("state_message", "entity_display_name", "monitoring_tool")},
    "webex_configs": {"message": "webex.default.message"},
    "wechat_configs": {k: f"wechat.default.{k}" for k in
                       ("message", "to_user", "to_party", "to_tag", "agent_id")},
    "discord_configs": {k: f"discord.default.{k}" for k in ("title", "message")},
    "jira_configs": {k: f"jira.default.{k}" for k in ("summary", "description", "priority")},
    "mattermost_configs": {"username": "mattermost.default.username",
                           "color": "mattermost.default.color",
                           "text": "mattermost.default.text",
                           "title": "mattermost.default.title",
                           "title_link": "mattermost.default.titlelink",
                           "fallback": "mattermost.default.fallback"},
    "msteams_configs": {k: f"msteams.default.{k}" for k in ("title", "summary", "text")},
    "msteamsv2_configs": {k: f"msteamsv2.default.{k}" for k in ("title", "text")},
    "pushover_configs": {k: f"pushover.default.{k}" for k in ("title", "message", "url")},
    "rocketchat_configs": {"emoji": "rocketchat.default.emoji",
                           "icon_url": "rocketchat.default.iconurl",
                           "text": "rocketchat.default.text",
                           "title": "rocketchat.default.title",
                           "title_link": "rocketchat.default.titlelink"},
    "sns_configs": {k: f"sns.default.{k}" for k in ("subject", "message")},
    "telegram_configs": {"message": "telegram.default.message"},
}
_CALL = re.compile(r"\b(\w+)\(")


@dataclass
class Migration:
    """The new config text, the template files to write, and what to tell the user."""

    config: str
    templates: dict[Path, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # `file:line:col: message`


@dataclass
class _Edit:
    start: int
    end: int
    text: str


def _block(value: str, node: yaml.ScalarNode, text: str) -> str | None:
    """`value` as a literal block scalar indented like the original, or None."""
    lines = value.split("\n")
    if not value.strip() or lines[0].startswith((" ", "\t")):
        return None  # would need an indentation indicator: a quoted string is clearer
    span = text[node.start_mark.index:node.end_mark.index]
    content = next((line for line in span.split("\n")[1:] if line.strip()), "")
    indent = " " * (len(content) - len(content.lstrip(" ")) or node.start_mark.column + 2)
    body = value.rstrip("\n")
    trailing = len(value) - len(body)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    tail = span[len(span.rstrip()):]  # the line breaks (and blank lines) after the text
    return "\n".join([f"|{chomp}"] + [indent + line if line else ""
                                       for line in body.split("\n")]) + tail


def _scalar(value: str, node: yaml.ScalarNode, text: str) -> str:
    if node.style in ("|", ">"):
        block = _block(value, node, text)
        if block is not None:
            return block
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML double-quoted one


class _Migrator:
    def __init__(self, src: Path, out_dir: Path) -> None:
        self.src = src
        self.text = src.read_text(encoding="utf-8")
        self.out_dir = out_dir
        self.result = Migration("")
        self.edits: dict[int, _Edit] = {}  # by start: an aliased node is edited once
        self.defined: set[str] = set()  # the macros of the team's template files
        self.calls: dict[str, set[str]] = {  # the default macros each default macro calls
            m.group(1): set(_CALL.findall(m.group(2))) for m in MACRO_DEF.finditer(
                (default_templates_dir() / "alertmanager.j2").read_text(encoding="utf-8"))}

    def where(self, node: yaml.Node, line: int = 0, col: int | None = None) -> str:
        mark = node.start_mark
        column = mark.column + 1 if col is None else col
        return f"{self.src}:{mark.line + 1 + line}:{column}"

    def note(self, where: str, message: str) -> None:
        self.result.notes.append(f"{where}: {message}")

    def run(self) -> Migration:
        root = yaml.compose(self.text, Loader=yaml.SafeLoader)
        if isinstance(root, yaml.MappingNode):
            for key, value in root.value:
                if key.value == "templates" and isinstance(value, yaml.SequenceNode):
                    self.templates(key, value)
            for key, value in root.value:
                if key.value == "receivers":
                    self.strings(value)
                    self.redefined_defaults(value)
            self.files(root)
        out = self.text
        for edit in sorted(self.edits.values(), key=lambda e: e.start, reverse=True):
            out = out[:edit.start] + edit.text + out[edit.end:]
        self.result.config = out
        return self.result

    def strings(self, node: yaml.Node) -> None:
        """Translate every receiver string holding Go actions."""
        if isinstance(node, yaml.MappingNode):
            for _, value in node.value:
                self.strings(value)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self.strings(item)
        elif isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
            found = translate(node.value, mark=True)
            if not found.actions:
                return
            for offset, message in found.located:
                line = node.value.count("\n", 0, offset)
                block = node.style in ("|", ">")
                self.note(self.where(node, line + block if block else 0),
                          f"could not translate: {message}")
            self.edits[node.start_mark.index] = _Edit(
                node.start_mark.index, node.end_mark.index, _scalar(found.text, node, self.text))

    def redefined_defaults(self, receivers: yaml.Node) -> None:
        """Set each unset key whose Alertmanager default the team's files redefine."""
        if not self.defined or not isinstance(receivers, yaml.SequenceNode):
            return
        for receiver in receivers.value:
            if not isinstance(receiver, yaml.MappingNode):
                continue
            for kind, entries in receiver.value:
                defaults = _AM_DEFAULTS.get(str(kind.value), {})
                if not defaults or not isinstance(entries, yaml.SequenceNode):
                    continue
                for entry in entries.value:
                    if isinstance(entry, yaml.MappingNode) and entry.value:
                        have = {str(k.value) for k, _ in entry.value}
                        pairs: list[tuple[str, str | dict[str, str]]] = [
                            (key, f"{{{{ {macro_name(name)}(data) }}}}")
                            for key, name in defaults.items()
                            if key not in have and self.redefined(name)]
                        if (kind.value == "email_configs" and "headers" not in have
                                and self.redefined("email.default.subject")):
                            # Alertmanager's default Subject header (a nested key).
                            pairs.append(("headers",
                                          {"Subject": "{{ email_default_subject(data) }}"}))
                        self.insert(entry, pairs)

    def redefined(self, name: str) -> bool:
        """Whether the team redefined the default template `name` or one it calls."""
        seen: set[str] = set()
        todo = [macro_name(name)]
        while todo:
            macro = todo.pop()
            if macro in self.defined:
                return True
            if macro not in seen:
                seen.add(macro)
                todo.extend(self.calls.get(macro, ()))
        return False

    def insert(self, entry: yaml.MappingNode,
               pairs: list[tuple[str, str | dict[str, str]]]) -> None:
        if not pairs:
            return
        if entry.flow_style:
            at = entry.end_mark.index - 1  # before `}`
            text = "".join(f", {key}: {json.dumps(value)}" for key, value in pairs)
        else:
            last = entry.value[-1][1]
            span = self.text[last.start_mark.index:last.end_mark.index]
            at = last.start_mark.index + len(span.rstrip())
            indent = " " * entry.value[0][0].start_mark.column
            text = "".join(f"\n{indent}{key}: {json.dumps(value)}" for key, value in pairs)
            edited = self.edits.get(last.start_mark.index)
            if edited is not None:  # the last value is rewritten too: add after its text
                body = edited.text.rstrip()
                edited.text = body + text + edited.text[len(body):]
                return
        self.edits[at] = _Edit(at, at, text)

    def templates(self, key: yaml.Node, node: yaml.SequenceNode) -> None:
        """Translate each file the globs match; the list then names the new files."""
        written: list[str] = []
        for item in node.value:
            pattern = str(item.value)
            full = (self.src.parent / Path(pattern).expanduser()).absolute()
            matches = sorted(p for p in Path(full.anchor).glob(str(full.relative_to(full.anchor)))
                             if p.is_file())
            if not matches:
                self.note(self.where(item), f"templates: {pattern!r} matches no file; dropped")
            for path in matches:
                target = self.target(path)
                self.result.templates[target] = self.template_file(path)
                written.append(os.path.relpath(target, self.out_dir))
        end = node.end_mark.index if node.flow_style or not node.value else \
            node.value[-1].end_mark.index  # a block list's end takes in comments after it
        start = node.start_mark.index
        if node.flow_style or not written:
            new = "[" + ", ".join(json.dumps(w) for w in written) + "]"
            if not node.flow_style:  # `templates: []` on the key's line
                start, new = key.end_mark.index, ": " + new
        else:  # a block list stays one: `- a` per line, at the first item's column
            new = ("\n" + " " * node.start_mark.column).join(f"- {json.dumps(w)}"
                                                             for w in written)
        span = self.text[start:end]
        self.edits[node.start_mark.index] = _Edit(start, end, new + span[len(span.rstrip()):])

    def target(self, path: Path) -> Path:
        # `NAME.tmpl.j2`: never the name of a default template (`slack.j2`), which a
        # user file of that name would replace.
        base = self.out_dir / "templates" / f"{path.stem}.tmpl.j2"
        n = 1
        while base in self.result.templates:
            n += 1
            base = self.out_dir / "templates" / f"{path.stem}-{n}.tmpl.j2"
        return base

    def template_file(self, path: Path) -> str:
        text = path.read_text(encoding="utf-8")
        self.defined.update(macro_name(n) for n in re.findall(
            r'\{\{-?\s*(?:define|block)\s+"([^"]+)"', text))
        found = translate(text, mark=True)
        for offset, message in found.located:
            line = text.count("\n", 0, offset) + 1
            col = offset - (text.rfind("\n", 0, offset) + 1) + 1
            self.note(f"{path}:{line}:{col}", f"could not translate: {message}")
        return (f"{{# Translated from {path.name} by `alert-router migrate` (Go template → "
                f"Jinja). Each Go define is a macro taking Go's dot as `d`. #}}\n{found.text}")

    def files(self, node: yaml.Node) -> None:
        """Relative `*_file` paths, relative to where the output will be."""
        if self.out_dir.absolute() == self.src.parent.absolute():
            return
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self.files(item)
        if not isinstance(node, yaml.MappingNode):
            return
        for key, value in node.value:
            if (isinstance(value, yaml.ScalarNode) and str(key.value).endswith("_file")
                    and value.value and not Path(value.value).expanduser().is_absolute()):
                moved = os.path.relpath(self.src.parent.absolute() / value.value,
                                        self.out_dir.absolute())
                self.edits[value.start_mark.index] = _Edit(
                    value.start_mark.index, value.end_mark.index, json.dumps(moved))
            else:
                self.files(value)


def migrate(src: Path, out_dir: Path) -> Migration:
    """The migration of the Alertmanager config `src` for an output in `out_dir`."""
    return _Migrator(src, out_dir).run()


_DEFAULTS = Path(__file__).parents[2] / "tests" / "data" / "alertmanager-templates"


def default_templates(sources: Path = _DEFAULTS) -> str:
    """templates/alertmanager.j2: Alertmanager's default.tmpl and email.tmpl, translated."""
    go = "".join((sources / name).read_text(encoding="utf-8")
                 for name in ("default.tmpl", "email.tmpl"))
    found = translate(go, mark=True)
    return ("{#- Alertmanager's default templates (template/default.tmpl and email.tmpl of\n"
            "    github.com/prometheus/alertmanager, Apache License 2.0), translated to Jinja\n"
            "    by router/config/go_templates.py; see tests/data/alertmanager-templates/.\n"
            "    Each `{{ define \"x.y\" }}` is the macro x_y(d), d being Go's dot: a migrated\n"
            "    `{{ template \"slack.default.title\" . }}` is `{{ slack_default_title(data) }}`.\n"
            "    Generated: do not edit. -#}\n" + found.text)
