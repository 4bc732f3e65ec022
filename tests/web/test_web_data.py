"""The dataset pages over HTTP: the list and its search, a dataset's catalog (and editing it),
a version's files, profile, contract checks, PII and runs, two versions compared, and bad input.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import pytest
from data_world import TELCO_V2_ROWS, Tables, add_people, add_telco, data_folder
from markupsafe import escape
from starlette.testclient import TestClient
from web_world import XSS, World, csrf_of, sign_in

from tandem.data.models import ColumnEdit, DatasetUpdate
from tandem.server.container import Services
from tandem.tracking.models import RunCreate
from tandem.web.render import CSP


@pytest.fixture
def web(world: World, api: TestClient) -> TestClient:
    return api


@pytest.fixture
def tables(world: World, tmp_path: Path) -> Tables:
    return data_folder(world.services, tmp_path)


def charts_of(page: str) -> list[dict[str, Any]]:
    """The chart specs a page hands to static/data.js."""
    found = re.search(
        r'<script type="application/json" id="data-charts">(.*?)</script>', page, re.S
    )
    assert found, "the page carries its charts' data"
    specs: list[dict[str, Any]] = json.loads(found[1])
    return specs


def chart_for(page: str, label: str) -> dict[str, Any]:
    """The spec of the chart whose element is labelled `label`."""
    found = re.search(rf'data-chart="(\d+)" role="img" aria-label="{re.escape(label)}"', page)
    assert found, f"no chart labelled {label!r}"
    return charts_of(page)[int(found[1])]


def text_of(page: str) -> str:
    """The page's text, tags removed and whitespace collapsed, for reading rows."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def add_text(services: Services, tables: Tables, project: str, name: str, body: str) -> None:
    file = tables.folder / f"{name}.txt"
    file.write_text(body)
    services.data.add_from_path(services.owner, project, name, str(file))


def denials(services: Services, path: str) -> list[str]:
    events = services.audit.list(services.owner, outcome="denied").items
    return [e.action for e in events if e.target == path]


# -- the list ------------------------------------------------------------------------------------


def test_datasets_list_searches_and_pages(web: TestClient, world: World, tables: Tables) -> None:
    services = world.services
    add_people(services, tables, "vision")
    for i in range(52):
        add_text(services, tables, "vision", f"notes-{i:02d}", f"note {i}")
    services.data.update_dataset(
        services.owner, "vision", "people",
        DatasetUpdate(description="Customer contacts", owner="priya", tags={"domain": "crm"}),
    )  # fmt: skip
    add_text(services, tables, "audio", "secret-audio", "x")
    sign_in(web, "vic")

    runs = web.get("/projects/vision")
    assert 'href="/projects/vision/datasets"' in runs.text  # the project's navigation

    first = web.get("/projects/vision/datasets")
    assert first.status_code == 200
    assert first.headers["content-security-policy"] == CSP
    assert 'href="/projects/vision/datasets/notes-00"' in first.text
    assert "secret-audio" not in first.text
    assert len(re.findall(r'href="/projects/vision/datasets/notes-\d+"', first.text)) == 50
    next_href = html.unescape(first.text.split('rel="next" href="')[1].split('"')[0])
    second = web.get("/projects/vision/datasets" + next_href)
    assert "people" in second.text and "notes-51" in second.text
    assert 'rel="prev"' in second.text and "notes-00" not in second.text

    for params in (
        {"q": "contacts"},  # description
        {"q": "PEOP"},  # name, any case
        {"column": "email"},
        {"owner": "priya"},
        {"tag": "domain=crm"},
        {"tag": "domain"},
    ):
        found = web.get("/projects/vision/datasets", params=params)
        assert found.status_code == 200, params
        assert 'href="/projects/vision/datasets/people"' in found.text, params
        assert "notes-00" not in found.text, params
        row = text_of(found.text)
        assert "Customer contacts priya domain=crm 1 v1 revision 1" in row, params
    none = web.get("/projects/vision/datasets", params={"column": "nowhere"})
    assert "No datasets match." in none.text

    assert web.get("/projects/audio/datasets").status_code == 404  # not told it exists


# -- one dataset ---------------------------------------------------------------------------------


def test_dataset_page_shows_catalog_contract_and_versions(
    web: TestClient, world: World, tables: Tables
) -> None:
    services = world.services
    add_telco(services, tables, "vision")
    services.data.update_dataset(
        services.owner, "vision", "telco",
        DatasetUpdate(
            description="IBM's churn sample", owner="analytics", tags={"source": "ibm"},
            columns={"tenure": ColumnEdit(description="Months as a customer", owner="lena")},
        ),
    )  # fmt: skip
    sign_in(web, "vic")
    page = web.get("/projects/vision/datasets/telco")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "IBM's churn sample" in text and "Owner analytics" in text
    assert "source=ibm" in text and "Versions 2" in text
    assert "tenure integer Months as a customer lena" in text
    assert "customerID string" in text
    # versions, newest first, with their facts and verdicts
    v2 = text.index("v2 ")
    assert v2 < text.index("v1 ", v2)
    assert re.search(
        rf"v2 [\d: -]+ \S+ 1 [\d.]+ kB {TELCO_V2_ROWS} passed revision 1 prices up", text
    )
    assert re.search(r"v1 [\d: -]+ \S+ 1 970\.5 kB 7043 passed revision 1 as published", text)
    assert 'href="/projects/vision/datasets/telco/versions/v1"' in page.text
    assert 'href="/projects/vision/datasets/telco/diff"' in page.text
    # the contract, as text
    assert "Revision 1" in text
    assert "id: telco-customer-churn" in page.text
    assert "mustBeBetween: [5000, 10000]" in page.text
    # a viewer sees no forms
    assert 'method="post" action="/projects/vision/datasets/telco' not in page.text


def test_builders_edit_the_catalog(web: TestClient, world: World, tables: Tables) -> None:
    services = world.services
    add_people(services, tables, "vision")
    services.data.update_dataset(
        services.owner, "vision", "people", DatasetUpdate(tags={"old": "1", "keep": "yes"})
    )
    sign_in(web, "ada")
    page = web.get("/projects/vision/datasets/people")
    assert 'action="/projects/vision/datasets/people"' in page.text
    assert 'action="/projects/vision/datasets/people/columns"' in page.text
    token = csrf_of(page.text)

    saved = web.post(
        "/projects/vision/datasets/people",
        data={"description": "Contacts\nfrom the CRM", "owner": " priya ",
              "tags": "keep=yes\n\ndomain = crm\n", "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == 303
    assert saved.headers["location"] == "/projects/vision/datasets/people?notice=saved"
    dataset = services.data.get_dataset(services.owner, "vision", "people")
    assert dataset.description == "Contacts\nfrom the CRM" and dataset.owner == "priya"
    assert dataset.tags == {"keep": "yes", "domain": "crm"}  # `old` left out: removed
    shown = web.get(saved.headers["location"])
    assert "Catalog entry saved." in shown.text and "domain=crm" in shown.text

    column = web.post(
        "/projects/vision/datasets/people/columns",
        data={"column": "email", "description": "Work address", "owner": "sam",
              "csrf_token": token},
    )  # fmt: skip
    assert column.status_code == 200 and "Column saved." in column.text
    assert "email string" in text_of(column.text)
    assert 'value="Work address"' in column.text
    [email] = [c for c in services.data.get_dataset(services.owner, "vision", "people").columns
               if c.name == "email"]  # fmt: skip
    assert (email.description, email.owner) == ("Work address", "sam")


def test_bad_catalog_input_shows_the_form_again_and_changes_nothing(
    web: TestClient, world: World, tables: Tables
) -> None:
    services = world.services
    add_people(services, tables, "vision")
    sign_in(web, "ada")
    token = csrf_of(web.get("/projects/vision/datasets/people").text)
    before = services.data.get_dataset(services.owner, "vision", "people")

    no_equals = web.post(
        "/projects/vision/datasets/people",
        data={"description": "kept in the form", "owner": "x", "tags": "a=1\nlonely",
              "csrf_token": token},
    )  # fmt: skip
    assert no_equals.status_code == 422
    assert "tags, line 2: write key=value" in no_equals.text
    assert "kept in the form" in no_equals.text  # what was typed is not lost
    assert '<details class="edit" open>' in no_equals.text

    too_long = web.post(
        "/projects/vision/datasets/people",
        data={"description": "d" * 10_001, "owner": "x", "tags": "", "csrf_token": token},
    )
    assert too_long.status_code == 422
    assert "description is 10001 characters long; the limit is 10000" in too_long.text

    nul = web.post(
        "/projects/vision/datasets/people/columns",
        data={"column": "email", "description": "bad\x00", "owner": "", "csrf_token": token},
    )
    assert nul.status_code == 422
    assert "email: column description must not contain NUL characters" in text_of(nul.text)

    no_token = web.post(
        "/projects/vision/datasets/people", data={"description": "forged", "tags": ""}
    )
    assert no_token.status_code == 403 and "CSRF" in no_token.text
    assert services.data.get_dataset(services.owner, "vision", "people") == before
    assert denials(services, "/projects/vision/datasets/people") == ["access.denied"]


def test_viewers_cannot_edit_the_catalog(web: TestClient, world: World, tables: Tables) -> None:
    services = world.services
    add_people(services, tables, "vision")
    add_text(services, tables, "audio", "secret", "x")
    sign_in(web, "vic")
    token = csrf_of(web.get("/projects/vision/datasets/people").text)
    before = services.data.get_dataset(services.owner, "vision", "people")
    refused = web.post(
        "/projects/vision/datasets/people",
        data={"description": "mine now", "tags": "", "csrf_token": token},
    )
    assert refused.status_code == 403
    column = web.post(
        "/projects/vision/datasets/people/columns",
        data={"column": "email", "description": "mine", "csrf_token": token},
    )
    assert column.status_code == 403
    hidden = web.post(
        "/projects/audio/datasets/secret", data={"description": "x", "csrf_token": token}
    )
    assert hidden.status_code == 404
    assert services.data.get_dataset(services.owner, "vision", "people") == before


def test_versions_come_in_pages(web: TestClient, world: World, tables: Tables) -> None:
    services = world.services
    for i in range(53):
        add_text(services, tables, "vision", "log", f"entry {i}")
    sign_in(web, "vic")
    first = web.get("/projects/vision/datasets/log")
    shown = re.findall(r'href="/projects/vision/datasets/log/versions/v(\d+)">v', first.text)
    assert shown[0] == "53" and len(shown) == 50  # newest first, 50 a page
    next_href = html.unescape(first.text.split('rel="next" href="')[1].split('"')[0])
    second = web.get("/projects/vision/datasets/log" + next_href)
    rest = re.findall(r'href="/projects/vision/datasets/log/versions/v(\d+)">v', second.text)
    assert rest == ["3", "2", "1"]
    assert "No columns: the latest version is not a table" in second.text
    assert "No contract." in second.text


# -- one version ---------------------------------------------------------------------------------


def test_version_page_profile_files_checks_and_runs(
    web: TestClient, world: World, tables: Tables
) -> None:
    services = world.services
    add_telco(services, tables, "vision", versions=1)
    run = services.tracking.create_run(services.owner, "vision", RunCreate(name="churn-xgb"))
    services.data.link_run(services.owner, run.id, "telco@v1", "train")
    sign_in(web, "vic")
    page = web.get("/projects/vision/datasets/telco/versions/v1")
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Rows 7043" in text and "Format csv" in text and "970.5 kB in 1 file" in text

    # the profile table: numbers as the profile computed them
    assert "tenure integer 7043 0 73 0 9 29 55 72 32.3711 24.5595 1 (613)" in text
    assert "Churn string 7043 0 2" in text and "No (5174)" in text
    assert "customerID string 7043 0 ~" in text  # an estimate above 1,000 distinct values
    assert "TotalCharges string" in text and "(11)" in text

    # charts: a histogram for numbers, the most frequent values for strings
    tenure = chart_for(page.text, "Histogram of tenure")
    assert tenure["type"] == "hist" and len(tenure["x"]) == len(tenure["series"][0]["values"]) + 1
    assert sum(tenure["series"][0]["values"]) == 7043
    assert tenure["x"][0] == 0 and tenure["x"][-1] == 72
    churn = chart_for(page.text, "Most frequent values of Churn")
    assert churn["type"] == "cats" and churn["x"] == ["No", "Yes"]
    assert churn["series"] == [{"label": "rows", "values": [5174, 1869]}]
    assert "Too many different values for a chart (~6583)." in page.text  # TotalCharges
    # the contract classifies customerID as confidential: its values are not shown
    assert "customerID string 7043 0 ~6931 hidden: personal data" in text
    assert "7590-VHVEG" not in page.text
    assert '<script src="/static/data.js"></script>' in page.text

    # the contract's checks
    assert "passed with warnings" in text or "passed" in text
    assert re.search(r"pass customerID:unique customerID is unique error 0 rows", text)
    assert re.search(r"pass row_count .* error 7043", text)

    # files: download through the REST API with the session cookie
    link = re.search(r'href="(/api/v1/projects/vision/datasets/telco/versions/v1/files/[^"]+)"',
                     page.text)  # fmt: skip
    assert link and link[1].endswith("/telco-churn.csv")
    download = web.get(link[1])
    assert download.status_code == 200
    assert download.content == (tables.folder / "v1" / "telco-churn.csv").read_bytes()
    assert download.headers["content-type"] == "application/octet-stream"

    # runs that used it
    assert f'href="/projects/vision/runs/{run.id}">churn-xgb</a>' in page.text
    assert "churn-xgb train" in text
    assert "No personal data found." in text
    # the lineage drawing: the run that read it, linking to its page, and back
    assert '<svg class="lineage"' in page.text
    assert f'<a href="/projects/vision/runs/{run.id}"><g class="node run">' in page.text
    run_page = web.get(f"/projects/vision/runs/{run.id}")
    assert 'href="/projects/vision/datasets/telco/versions/v1"><g class="node dataset-version' in (
        run_page.text
    )


def test_version_page_failed_checks_and_personal_data(
    web: TestClient, world: World, tables: Tables
) -> None:
    add_people(world.services, tables, "vision")
    sign_in(web, "vic")
    page = web.get("/projects/vision/datasets/people/versions/1")  # v1, 1 and latest all work
    assert page.status_code == 200
    assert web.get("/projects/vision/datasets/people/versions/latest").text.count("v1") >= 1
    text = text_of(page.text)
    assert "Contract passed with warnings" in text
    assert re.search(r"passed with warnings \d+ of \d+ checks passed, 2 failed\.", text)
    # the failing check first, with what was seen, the bound, and rows as examples
    assert re.search(
        r"Result Check Severity Observed Expected Examples fail score:range score in \[, 5\] "
        r"5 of 40 rows fail: score in \[, 5\] warning 5 rows \{\"mustBe\": 0\} "
        r"row 5: score=6 row 12: score=6",
        text,
    )
    assert "email email 40 40 100.0%" in text  # PII: column, kind, matched, scanned, share
    # personal data: masked in the check's examples, not listed as frequent values
    assert re.search(r"fail email:length .* row 1: email=\S*\*", text)
    assert "@example.com" not in page.text
    assert "email string 40 0 40 hidden: personal data" in text
    assert "Personal data: its values are not shown." in text
    assert "No run used or produced this version yet." in text


def test_run_page_lists_its_datasets_and_each_side_hides_what_you_may_not_read(
    web: TestClient, world: World, tables: Tables
) -> None:
    services = world.services
    add_people(services, tables, "vision")
    vit, audio = world.runs["vit"], world.runs["audio"]
    services.data.link_run(services.owner, vit, "people@v1", "train")
    services.data.link_run(services.owner, audio, "vision/people@v1", "input")
    sign_in(web, "vic")
    page = web.get(f"/projects/vision/runs/{vit}")
    assert page.status_code == 200
    assert 'href="/projects/vision/datasets/people/versions/v1">people@v1</a>' in page.text
    assert "Datasets Dataset version Role Linked (UTC) people@v1 train" in text_of(page.text)
    # the version lists vic's run, not the run of a project vic is not in
    version = web.get("/projects/vision/datasets/people/versions/v1").text
    assert f'href="/projects/vision/runs/{vit}">vit-run</a>' in version
    assert "audio-secret" not in version and audio not in version
    # olga reads the audio run, not vision's dataset
    web.cookies.clear()
    sign_in(web, "olga")
    page = web.get(f"/projects/audio/runs/{audio}")
    assert page.status_code == 200
    assert "people" not in page.text
    assert "This run used or produced no dataset version." in page.text
    # who may read both sees the link, named with the dataset's project, both ways
    web.cookies.clear()
    sign_in(web, "root")
    page = web.get(f"/projects/audio/runs/{audio}")
    assert 'href="/projects/vision/datasets/people/versions/v1">vision/people@v1</a>' in page.text
    version = web.get("/projects/vision/datasets/people/versions/v1").text
    assert f'href="/projects/audio/runs/{audio}">audio-secret</a>' in version


def test_version_page_of_plain_files(web: TestClient, world: World, tables: Tables) -> None:
    add_text(world.services, tables, "vision", "readme", "hello")
    sign_in(web, "vic")
    page = web.get("/projects/vision/datasets/readme/versions/v1")
    text = text_of(page.text)
    assert page.status_code == 200
    assert "Rows — (not a table)" in text and "readme.txt 5 B" in text
    assert "No profile: this version is not a table" in text
    assert "data-charts" not in page.text  # no chart script when there is nothing to draw


def test_unknown_and_bad_references(web: TestClient, world: World, tables: Tables) -> None:
    services = world.services
    add_people(services, tables, "vision")
    add_text(services, tables, "audio", "secret", "x")
    sign_in(web, "vic")
    cases = {
        "/projects/vision/datasets/nothing": (404, "dataset 'nothing' does not exist"),
        "/projects/vision/datasets/nothing/versions/v1": (404, "does not exist"),
        "/projects/vision/datasets/people/versions/v9": (404, "has no version v9"),
        "/projects/vision/datasets/people/versions/vx": (422, "invalid dataset version 'vx'"),
        "/projects/vision/datasets/people/versions/0": (422, "versions are v1, v2"),
        "/projects/vision/datasets/people/diff?a=v1&b=banana": (422, "invalid dataset version"),
        "/projects/vision/datasets/people/diff?a=v1&b=v7": (404, "has no version v7"),
        "/projects/vision/datasets/people/diff?a=v1": (422, "pick two versions"),
        "/projects/audio/datasets/secret": (404, "does not exist"),
        "/projects/audio/datasets/secret/versions/v1": (404, "does not exist"),
        "/projects/audio/datasets/secret/diff": (404, "does not exist"),
    }
    for path, (status, message) in cases.items():
        response = web.get(path)
        assert response.status_code == status, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert message in html.unescape(response.text), path
    form = web.get("/projects/vision/datasets/people/diff?a=v1&b=banana")
    assert '<select id="a" name="a">' in form.text  # the form again, with the error


# -- two versions --------------------------------------------------------------------------------


def test_diff_page(web: TestClient, world: World, tables: Tables) -> None:
    add_telco(world.services, tables, "vision")
    sign_in(web, "vic")
    chosen = web.get("/projects/vision/datasets/telco/diff")  # the latest two by default
    assert chosen.status_code == 200
    assert '<option value="v1" selected>' in chosen.text
    assert '<option value="v2" selected>' in chosen.text
    page = web.get("/projects/vision/datasets/telco/diff", params={"a": "v1", "b": "2"})
    assert page.status_code == 200
    text = text_of(page.text)
    assert "v1 → v2" in text
    assert f"Rows 7043 → {TELCO_V2_ROWS} (-2043, -29.0%)" in text
    assert "Schema unchanged" in text and "The same columns with the same types." in text
    assert "drifted" in text
    # MonthlyCharges moved 30 %: drifted, by the statistic its verdict uses
    assert re.search(r"MonthlyCharges float Wasserstein / std [\d.]+ ≥ 0\.1 drifted", text), (
        "the drift table names the statistic, its value, the threshold and the verdict"
    )
    assert re.search(r"customerID string Jensen-Shannon distance [\d.e-]+ ≥ 0\.1", text)
    monthly = chart_for(page.text, "Distribution of MonthlyCharges in v1 and v2")
    assert monthly["type"] == "hist" and [s["label"] for s in monthly["series"]] == ["v1", "v2"]
    for side in monthly["series"]:
        assert len(side["values"]) == len(monthly["x"]) - 1
        assert sum(side["values"]) == pytest.approx(1.0, abs=1e-3)
    contract = chart_for(page.text, "Distribution of Contract in v1 and v2")
    assert contract["type"] == "cats" and "Month-to-month" in contract["x"]


def test_diff_without_profiles_still_works(web: TestClient, world: World, tables: Tables) -> None:
    services = world.services
    add_text(services, tables, "vision", "readme", "hello")
    (tables.folder / "readme.txt").write_text("hello again")
    services.data.add_from_path(services.owner, "vision", "readme", tables.path("readme.txt"))
    sign_in(web, "vic")
    page = web.get("/projects/vision/datasets/readme/diff", params={"a": "v1", "b": "v2"})
    assert page.status_code == 200
    text = text_of(page.text)
    assert "Rows — → —" in text
    assert "Drift not computed: a version that is not a table has no profile" in text
    assert "data-charts" not in page.text


# -- escaping ------------------------------------------------------------------------------------


def test_payloads_are_escaped_on_dataset_pages(
    web: TestClient, world: World, tables: Tables
) -> None:
    services = world.services
    add_people(services, tables, "vision")
    services.data.update_dataset(
        services.owner, "vision", "people",
        DatasetUpdate(description=XSS, owner=XSS, tags={"note": XSS},
                      columns={"email": ColumnEdit(description=XSS, owner=XSS)}),
    )  # fmt: skip
    payload = tables.folder / "odd.csv"
    payload.write_text('"<b>name</b>",x\n"<script>alert(1)</script>",1\n')
    services.data.add_from_path(services.owner, "vision", "odd", str(payload), message=XSS)
    sign_in(web, "ada")
    for path in (
        "/projects/vision/datasets",
        "/projects/vision/datasets/people",
        "/projects/vision/datasets/people/versions/v1",
        "/projects/vision/datasets/odd",
        "/projects/vision/datasets/odd/versions/v1",
        f"/projects/vision/datasets?q={XSS}&tag={XSS}",
    ):
        page = web.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-security-policy"] == CSP, path
        assert "<script>" not in page.text and " onclick=" not in page.text, path
        assert "<script>window" not in page.text, path
        assert "<script>alert" not in page.text, path
        assert "<img src=x" not in page.text and "<b>name" not in page.text, path
    people = web.get("/projects/vision/datasets/people").text
    assert people.count(str(escape(XSS))) >= 5  # description, owner, tag, column notes, forms
    odd = web.get("/projects/vision/datasets/odd/versions/v1").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in odd  # a value, in the profile table
    spec = json.dumps(charts_of(odd)) if "data-charts" in odd else ""
    assert "</script>" not in spec.replace("<\\/", "")


def test_charts_from_profiles_when_the_report_has_none() -> None:
    """Without a drift chart, the diff page draws both profiles' own bins, as shares."""
    from tandem.web.datacharts import drift_chart, profiles_chart

    a = {"count": 10, "histogram": {"edges": [0, 1, 2], "counts": [4, 6]}}
    b = {"count": 4, "histogram": {"edges": [0, 2, 4], "counts": [1, 3]}}
    chart = profiles_chart(a, b, ("v1", "v2"))
    assert chart is not None and chart["type"] == "hist"
    assert [s["values"] for s in chart["series"]] == [[0.4, 0.6], [0.25, 0.75]]
    assert [s["edges"] for s in chart["series"]] == [[0, 1, 2], [0, 2, 4]]
    top_a = {"count": 10, "top": [["x", 6], ["y", 4]]}
    top_b = {"count": 10, "top": [["y", 7], [None, 3]]}
    cats = profiles_chart(top_a, top_b, ("v1", "v2"))
    assert cats is not None and cats["x"] == ["y", "x", "(null)"]
    assert [s["values"] for s in cats["series"]] == [[0.4, 0.6, 0.0], [0.7, 0.0, 0.3]]
    ids = {"count": 1000, "top": [[f"id{i}", 1] for i in range(10)]}
    assert profiles_chart(ids, ids, ("v1", "v2")) is None  # nothing worth drawing
    assert profiles_chart(None, top_b, ("v1", "v2")) is None
    mostly_other = {"chart": {"categories": ["a", "(other)"], "reference": [0.01, 0.99],
                              "current": [0.02, 0.98]}}  # fmt: skip
    assert drift_chart(mostly_other, ("v1", "v2")) is None
    times = {"chart": {"edges": ["2024-01-01", "2024-02-01", "2024-03-01"],
                       "reference": [0.5, 0.5], "current": [0.2, 0.8]}}  # fmt: skip
    binned = drift_chart(times, ("v1", "v2"))
    assert binned is not None and binned["type"] == "cats"
    assert binned["x"] == ["2024-01-01", "2024-02-01"]  # bins named by where they start


def test_sizes_read_the_same_in_every_face() -> None:
    from tandem.core.units import format_bytes

    cases = [(None, ""), (0, "0 B"), (999, "999 B"), (970_456, "970.5 kB"), (1_500_000, "1.5 MB")]
    assert [format_bytes(size) for size, _ in cases] == [text for _, text in cases]
    assert format_bytes(3 * 10**12) == "3.0 TB" and format_bytes(None, "-") == "-"
