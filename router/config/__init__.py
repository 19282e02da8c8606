"""Configuration: YAML with positions, field readers, the typed config, loading and checking.

Values (imported by run-time modules; they import no run-time module):
  types.py           RouterConfig and every section's frozen dataclass; InhibitRule
  secret_types.py    Secret (inline or `_file`, never printed)
  http_types.py      HttpConfig and its parts (authorization, oauth2, TLS, proxy)
  interval_types.py  TimeInterval and its specs, with Alertmanager's calendar semantics
  source_types.py    sources.alertmanager: reconcile and webhook_alert_timeout
Reading (only `load.load_config` / `check_files` / `migrate.migrate` are called from
outside, by app and cli):
  yaml_source.py     YAML -> nodes with file:line:col; Problem, ConfigError
  fields.py          FieldReader: secrets, files, templates, http_config, pacing, matchers
  load.py            load_config / load_config_text / check_files / check_report /
                     default_config
  global_config.py   global (Alertmanager's keys and defaults, inherited by receivers)
  http_config.py     http_config and tls_config (Prometheus' common HTTP client)
  route.py           the route tree, with the `storm` / `flap` / `fast_resolve` route keys
  receivers.py       receivers (each channel module in router/channels/ parses its entry)
  server.py          server: listen, external_url, max_body_bytes, auth
  sections.py        templates, storage, sources (sources.alertmanager too), delivery
  inhibit_rules.py   inhibit_rules
  time_intervals.py  time_intervals (and the deprecated mute_time_intervals)
  go_templates.py    Go template actions → Jinja (check-config's hints, migrate)
  go_expr.py         Go template expressions → Jinja expressions
  template_check.py  every template rendered on sample data at load
  migrate.py         `alert-router migrate`: an Alertmanager config and its .tmpl files

No re-exports here: importing a value module must not pull in the YAML reader.
"""
