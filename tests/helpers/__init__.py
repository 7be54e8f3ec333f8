"""What the tests share: servers and containers to start (harness), models (models), loads and
hostile clients (load, hostile), request bodies (bodies), training jobs (training_jobs), the CLI
against moto (ship), and the apps and scripts some tests run elsewhere (plain_apps, load_inside,
schemathesis_hooks). No test lives here, and no test file imports another test file or a conftest
(tests/test_layout.py checks it): a newcomer finds every helper in this folder.
"""
