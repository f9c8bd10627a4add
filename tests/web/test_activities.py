"""Activity pages: list (filters in the URL, sorting, pagination, total), create, edit with
optimistic versions, duplicate, cancel, delete, restore, detail with history, export."""

from __future__ import annotations

import csv
import datetime
import io
import re
from typing import Any

import openpyxl
import pytest
from django.test import Client
from django.urls import reverse

from cooperation import services
from cooperation.choices import ActivityStatus, Classification
from cooperation.models import Activity
from tests.conftest import World
from tests.factories import AccreditationFactory, ActivityFactory, AttacheFactory, PostFactory, area

pytestmark = pytest.mark.django_db

LIST = reverse("workspace:activity_list")
CREATE = reverse("workspace:activity_create")


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form_data(world: World, **overrides: Any) -> dict[str, Any]:
    data = {
        "relationship": world.rel_a.pk,
        "area": area("education").pk,
        "title": "English course for cadets",
        "kind": "course",
        "level": "working",
        "status": "planned",
        "start_date": "2016-09-12",
        "end_date": "2016-12-16",
        "location": "Minsk",
        "participants": "16",
        "counterpart": "Military Academy",
        "description": "",
        "outcome": "",
        "releasability": Classification.INTERNAL,
        "accreditation": "",
        "external_ref": "",
    }
    data.update(overrides)
    return data


def edit_data(activity: Activity, **overrides: Any) -> dict[str, Any]:
    data = {
        name: getattr(activity, f"{name}_id" if name in ("relationship", "area", "accreditation") else name)
        for name in services.ACTIVITY_EDITABLE_FIELDS
    }
    data = {name: "" if value is None else value for name, value in data.items()}
    data["version"] = activity.version
    data.update(overrides)
    return data


# List ----------------------------------------------------------------------------------


def table_of(content: str) -> str:
    """The results table only (not the messages above it)."""
    return content[content.index('id="activity-table"') :]


def rows_titles(content: str, titles: list[str]) -> list[str]:
    """The given titles in the order they appear on the page."""
    return sorted((title for title in titles if title in content), key=content.index)


def test_list_shows_total_filters_and_keeps_the_filter_state_in_the_url(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, title="Demining seminar in Barysaw", area=area("demining"))
    ActivityFactory(relationship=world.rel_a, title="Planned demining visit", area=area("demining"), status="planned")
    client = signed_in(world.officer_a)
    response = client.get(LIST, {"area": "demining", "status": "conducted"})
    content = response.content.decode()
    assert response.status_code == 200
    assert "Demining seminar in Barysaw" in content
    assert "Planned demining visit" not in content and "a internal" not in content
    assert "<strong>1</strong> activity" in content
    # The form shows the state the URL carries, so the link reproduces the view.
    assert '<input type="checkbox" name="area" value="demining" class="form-check-input" id="id_area_2" checked>' in (
        content
    )
    assert (
        '<input type="checkbox" name="status" value="conducted" class="form-check-input" id="id_status_2" checked>'
        in (content)
    )
    assert 'value="planned" class="form-check-input" id="id_status_0" checked' not in content
    assert 'href="/activities/export.csv?area=demining&amp;status=conducted"' in content


def test_list_text_search_date_range_country_and_relationship(world: World) -> None:
    ActivityFactory(relationship=world.rel_b, title="Cuban cadets at the academy", start_date=datetime.date(2018, 9, 3))
    ActivityFactory(relationship=world.rel_b, title="Cuban medics visit", start_date=datetime.date(2019, 2, 1))
    client = signed_in(world.manager)
    content = client.get(LIST, {"q": "cuban cad"}).content.decode()
    assert "Cuban cadets at the academy" in content and "Cuban medics visit" not in content
    content = client.get(LIST, {"start_date_after": "2019-01-01", "start_date_before": "2019-12-31"}).content.decode()
    assert "Cuban medics visit" in content and "Cuban cadets at the academy" not in content
    content = client.get(LIST, {"country": "CU"}).content.decode()
    assert "Cuban medics visit" in content and "a public" not in content
    content = client.get(LIST, {"relationship": world.rel_a.pk}).content.decode()
    assert "a public" in content and "Cuban medics visit" not in content


def test_a_filter_the_panel_does_not_show_is_named_kept_and_removable(world: World) -> None:
    """A link into the list (an accreditation's "activities through it") can filter by what the
    panel has no box for: the page says so, the panel's filters keep it, one link drops it."""
    accreditation = AccreditationFactory(
        attache=AttacheFactory(name="Daniel Whitaker"), post=PostFactory(host_country="BY", city="Kyiv")
    )
    ActivityFactory(relationship=world.rel_a, title="Through the attaché", accreditation=accreditation)
    client = signed_in(world.officer_a)
    content = client.get(LIST, {"accreditation": accreditation.pk, "sort": "title"}).content.decode()
    assert "<strong>1</strong> activity" in content
    notice = content.split('id="other-filters"')[1].split("</div>")[0]
    assert "Accreditation: Colonel Daniel Whitaker → Belarus (resident, accredited)" in notice
    assert 'href="/activities/?sort=title"' in notice  # the same list without it
    hidden = f'<input type="hidden" name="accreditation" value="{accreditation.pk}" form="activity-filters">'
    assert hidden in content
    # An attaché (any id is accepted) is named by number only: the list does not reveal names.
    content = client.get(LIST, {"attache": accreditation.attache_id}).content.decode()
    assert f"Attaché: #{accreditation.attache_id}" in content and "Daniel Whitaker" not in content
    # A range filter: both of its parameters are kept, and named as a range.
    content = client.get(LIST, {"end_date_after": "2017-01-01", "end_date_before": ""}).content.decode()
    assert "End date between: from 2017-01-01" in content
    assert '<input type="hidden" name="end_date_after" value="2017-01-01" form="activity-filters">' in content
    # An invalid one says what is wrong where the user can see it.
    response = client.get(LIST, {"accreditation": "999999"})
    assert response.status_code == 400
    notice = response.content.decode().split('id="other-filters"')[1].split("</div>")[0]
    assert "Accreditation: Select a valid choice." in notice


def test_invalid_filters_are_shown_beside_the_field_and_list_nothing(world: World) -> None:
    response = signed_in(world.officer_a).get(LIST, {"relationship": world.rel_b.pk, "start_date_after": "2016-13-45"})
    content = response.content.decode()
    assert response.status_code == 400
    assert "Select a valid choice" in content
    assert "Enter a valid date" in content
    assert "<strong>0</strong> activities" in content


def test_list_sorts_and_paginates_without_overlap(world: World) -> None:
    for day in range(1, 31):
        ActivityFactory(relationship=world.rel_a, title=f"Sorted {day:02d}", start_date=datetime.date(2020, 1, day))
    client = signed_in(world.officer_a)
    titles = [f"Sorted {day:02d}" for day in range(1, 31)]
    first = client.get(LIST, {"q": "sorted", "sort": "start_date"}).content.decode()
    second = client.get(LIST, {"q": "sorted", "sort": "start_date", "page": 2}).content.decode()
    assert "<strong>30</strong> activities" in first
    assert rows_titles(first, titles) == titles[:25]
    assert rows_titles(second, titles) == titles[25:]
    newest_first = client.get(LIST, {"q": "sorted", "sort": "-start_date", "per_page": 50}).content.decode()
    assert rows_titles(newest_first, titles) == titles[::-1]


def test_htmx_requests_get_only_the_results(world: World) -> None:
    client = signed_in(world.officer_a)
    partial = client.get(LIST, {"q": "public"}, headers={"HX-Request": "true"}).content.decode()
    assert "a public" in partial and "<html" not in partial and 'id="activity-filters"' not in partial
    # htmx swaps only 2xx answers: an invalid filter still comes back as 200 with its message.
    invalid = client.get(LIST, {"start_date_after": "x"}, headers={"HX-Request": "true"})
    assert invalid.status_code == 200 and "Some filters are not valid" in invalid.content.decode()
    assert "; some filters are not valid.</p>" in invalid.content.decode()
    full = client.get(LIST, {"q": "public"}).content.decode()
    assert "<html" in full and 'hx-get="/activities/"' in full
    # The count for screen readers: filled out of band into the page's status region.
    status = re.search(r'<p class="visually-hidden" id="results-status" role="status"([^>]*)>([^<]*)</p>', partial)
    assert status is not None and status.groups() == (' hx-swap-oob="innerHTML"', "1 activity matches the filters.")
    assert re.search(r'id="results-status" role="status"></p>', full)
    assert "hx-swap-oob" not in full


def test_list_query_count_does_not_grow_with_rows_or_page_size(
    world: World, django_assert_max_num_queries: Any
) -> None:
    client = signed_in(world.officer_a)
    client.get(LIST)  # warm the session and the area choices
    for index in range(60):
        ActivityFactory(relationship=world.rel_a, title=f"Row {index}", releasability=Classification.PUBLIC)
    with django_assert_max_num_queries(8):
        small = client.get(LIST, {"per_page": 25})
    with django_assert_max_num_queries(8):
        large = client.get(LIST, {"per_page": 100})
    assert small.content.decode().count("/activities/") < large.content.decode().count("/activities/")


@pytest.mark.parametrize("asked", ["7", "1000000", "0", "-5"])
def test_a_page_size_outside_the_offered_ones_shows_the_first_offered(world: World, asked: str) -> None:
    client = signed_in(world.officer_a)
    for index in range(30):
        ActivityFactory(relationship=world.rel_a, title=f"Sized {index:02d}", releasability=Classification.PUBLIC)
    page = client.get(LIST, {"q": "sized", "per_page": asked}).content.decode()
    assert len(re.findall(r">Sized \d\d<", page)) == 25
    assert '<input type="hidden" name="per_page" value="25" form="activity-filters">' in page


# Create ----------------------------------------------------------------------------------


def test_create_saves_through_the_service_and_records_who(world: World) -> None:
    response = signed_in(world.officer_a).post(CREATE, form_data(world, external_ref="web-1"))
    activity = Activity.objects.get(external_ref="web-1")
    assert response.status_code == 302 and response["Location"] == f"/activities/{activity.pk}/"
    assert activity.created_by == world.officer_a and activity.version == 1
    assert activity.end_date == datetime.date(2016, 12, 16) and activity.participants == 16
    detail = signed_in(world.officer_a).get(response["Location"]).content.decode()
    assert "English course for cadets" in detail and "officer_a" in detail and "activity.create" in detail


def test_create_errors_appear_beside_their_fields_and_keep_the_values(world: World) -> None:
    data = form_data(world, title="", end_date="2016-01-01", participants="-3", start_date="2016-02-30")
    response = signed_in(world.officer_a).post(CREATE, data)
    content = response.content.decode()
    assert response.status_code == 400
    assert Activity.objects.filter(title="").count() == 0
    assert 'id="id_title_errors">This field is required.' in content
    assert 'id="id_start_date_errors">Enter a valid date.' in content
    assert 'id="id_participants_errors">Ensure this value is greater than or equal to 0.' in content
    assert 'value="Minsk"' in content and 'value="Military Academy"' in content
    fixed = signed_in(world.officer_a).post(CREATE, form_data(world, end_date="2016-01-01"))
    assert 'id="id_end_date_errors">The end date cannot be before the start date.' in fixed.content.decode()


@pytest.mark.parametrize(
    "dates",
    [
        {"start_date": "0001-01-01"},
        {"start_date": "1899-12-31"},
        {"start_date": "9999-12-31", "end_date": "9999-12-31"},
        {"end_date": "2200-01-01"},
    ],
)
def test_dates_outside_the_calendar_are_field_errors_on_create_and_edit(world: World, dates: dict[str, str]) -> None:
    """A typo such as 0016 or 9016 is refused beside the field, as the dashboards refuse it."""
    client = signed_in(world.officer_a)
    response = client.post(CREATE, form_data(world, external_ref="far", **dates))
    content = response.content.decode()
    assert response.status_code == 400
    for name in dates:
        assert f'id="id_{name}_errors">Choose a date between 1900-01-01 and 2199-12-31.' in content
    assert not Activity.objects.filter(external_ref="far").exists()

    activity = world.activities["a_internal"]
    edit = client.post(reverse("workspace:activity_edit", kwargs={"pk": activity.pk}), edit_data(activity, **dates))
    assert edit.status_code == 400 and "Choose a date between 1900-01-01 and 2199-12-31." in edit.content.decode()
    activity.refresh_from_db()
    assert activity.version == 1 and activity.start_date == datetime.date(2017, 3, 1)


def test_create_refuses_another_desks_relationship_and_releasability_above_clearance(world: World) -> None:
    response = signed_in(world.officer_a).post(
        CREATE, form_data(world, relationship=world.rel_b.pk, releasability=Classification.RESTRICTED)
    )
    content = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_relationship_errors">Select a valid choice.' in content
    assert 'id="id_releasability_errors">Select a valid choice.' in content
    assert not Activity.objects.filter(title="English course for cadets").exists()


def test_duplicate_external_reference_is_a_field_error(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, external_ref="taken")
    response = signed_in(world.officer_a).post(CREATE, form_data(world, external_ref="taken"))
    assert "Activity with this External reference already exists." in response.content.decode()


def test_duplicate_starts_a_new_planned_activity_from_another(world: World) -> None:
    source = world.activities["a_internal"]
    response = signed_in(world.officer_a).get(reverse("workspace:activity_duplicate", kwargs={"pk": source.pk}))
    content = response.content.decode()
    assert 'value="a internal"' in content and 'action="/activities/new/"' in content
    assert '<option value="planned" selected>' in content


# Edit -------------------------------------------------------------------------------------


def test_edit_page_title_names_the_activity(world: World) -> None:
    activity = world.activities["a_public"]
    content = signed_in(world.officer_a).get(reverse("workspace:activity_edit", args=[activity.pk])).content.decode()
    assert "<title>Edit: a public · Attaché</title>" in content


def test_edit_saves_and_bumps_the_version(world: World) -> None:
    activity = world.activities["a_internal"]
    url = reverse("workspace:activity_edit", kwargs={"pk": activity.pk})
    client = signed_in(world.officer_a)
    assert 'name="version" value="1"' in client.get(url).content.decode()
    response = client.post(url, edit_data(activity, title="Renamed"))
    assert response.status_code == 302
    activity.refresh_from_db()
    assert activity.title == "Renamed" and activity.version == 2 and activity.updated_by == world.officer_a


def test_second_save_of_the_same_version_is_refused_and_shows_what_changed(world: World) -> None:
    activity = world.activities["a_internal"]
    url = reverse("workspace:activity_edit", kwargs={"pk": activity.pk})
    first, second = signed_in(world.officer_a), signed_in(world.admin)
    seen_by_second = edit_data(activity)
    assert first.post(url, edit_data(activity, title="First title", location="Brest")).status_code == 302

    response = second.post(url, seen_by_second | {"title": "Second title", "participants": "99"})
    content = response.content.decode()
    assert response.status_code == 409
    assert "Someone else saved this record first" in content
    assert "<strong>Title</strong>: a internal → First title" in content
    assert "<strong>Location</strong>: — → Brest" in content
    assert 'value="Second title"' in content and 'value="99"' in content  # the user's entries stay
    assert 'name="version" value="2"' in content  # saving again is now a deliberate choice
    activity.refresh_from_db()
    assert activity.title == "First title" and activity.participants == 10 and activity.version == 2


def test_edit_validation_errors_keep_the_values(world: World) -> None:
    activity = world.activities["a_internal"]
    url = reverse("workspace:activity_edit", kwargs={"pk": activity.pk})
    response = signed_in(world.officer_a).post(url, edit_data(activity, title="Kept", participants="many"))
    content = response.content.decode()
    assert response.status_code == 400
    assert 'id="id_participants_errors">Enter a whole number.' in content and 'value="Kept"' in content
    activity.refresh_from_db()
    assert activity.title == "a internal" and activity.version == 1


# Cancel, delete, restore --------------------------------------------------------------------


def test_cancel_delete_and_restore(world: World) -> None:
    activity = world.activities["a_internal"]
    client = signed_in(world.officer_a)

    def action(name: str, version: int) -> Any:
        return client.post(reverse(f"workspace:activity_{name}", kwargs={"pk": activity.pk}), {"version": version})

    assert action("cancel", 1).status_code == 302
    activity.refresh_from_db()
    assert activity.status == ActivityStatus.CANCELLED and activity.version == 2

    assert action("delete", 2)["Location"] == LIST
    assert "a internal" not in table_of(client.get(LIST).content.decode())
    deleted_page = client.get(reverse("workspace:activity_deleted")).content.decode()
    assert "a internal" in deleted_page
    detail = client.get(reverse("workspace:activity_detail", kwargs={"pk": activity.pk})).content.decode()
    assert "This activity was deleted" in detail

    assert action("restore", 3).status_code == 302
    activity.refresh_from_db()
    assert activity.deleted_at is None and activity.version == 4
    assert "a internal" in table_of(client.get(LIST).content.decode())


def test_a_stale_delete_is_refused_with_the_changes(world: World) -> None:
    activity = world.activities["a_internal"]
    services.activity_update(actor=world.admin, activity=activity, data={"title": "Changed"}, expected_version=1)
    response = signed_in(world.officer_a).post(
        reverse("workspace:activity_delete", kwargs={"pk": activity.pk}), {"version": 1}
    )
    content = response.content.decode()
    assert response.status_code == 409
    assert "<strong>Title</strong>: a internal → Changed" in content
    activity.refresh_from_db()
    assert activity.deleted_at is None


def test_editing_a_deleted_activity_sends_back_to_restore(world: World) -> None:
    deleted = world.activities["a_deleted"]
    response = signed_in(world.officer_a).get(reverse("workspace:activity_edit", kwargs={"pk": deleted.pk}))
    assert response.status_code == 302 and response["Location"] == f"/activities/{deleted.pk}/"


def test_a_version_that_is_not_a_number_is_a_clear_error(world: World) -> None:
    activity = world.activities["a_internal"]
    response = signed_in(world.officer_a).post(
        reverse("workspace:activity_cancel", kwargs={"pk": activity.pk}), {"version": "abc"}
    )
    assert response.status_code == 400 and "Enter a whole number." in response.content.decode()


# Detail -----------------------------------------------------------------------------------


def test_detail_shows_history_with_who_when_and_old_to_new(world: World, django_assert_max_num_queries: Any) -> None:
    activity = world.activities["a_internal"]
    services.activity_update(
        actor=world.officer_a, activity=activity, data={"title": "Retitled", "level": "senior"}, expected_version=1
    )
    client = signed_in(world.officer_a)
    client.get(LIST)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("workspace:activity_detail", kwargs={"pk": activity.pk}))
    content = response.content.decode()
    assert "<strong>title</strong>: a internal → Retitled" in content
    assert "<strong>level</strong>: Working → Senior" in content
    assert "officer_a" in content and "activity.update" in content


# Export -------------------------------------------------------------------------------------


def test_csv_export_streams_the_filtered_visible_list(world: World) -> None:
    ActivityFactory(relationship=world.rel_a, title="=HYPERLINK(1)", external_ref="x-1", area=area("demining"))
    response = signed_in(world.officer_a).get(reverse("workspace:activity_export_csv"), {"area": "demining"})
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment; filename=" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [row["title"] for row in rows] == ["'=HYPERLINK(1)"]
    assert rows[0]["state_a"] == "BY" and rows[0]["state_b"] == "US" and rows[0]["area"] == "demining"
    assert rows[0]["releasability"] == "internal"


def test_xlsx_export_holds_the_same_rows(world: World) -> None:
    response = signed_in(world.manager).get(reverse("workspace:activity_export_xlsx"), {"sort": "title"})
    assert response.streaming
    workbook = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    header = rows[0]
    titles = [row[header.index("title")] for row in rows[1:]]
    assert titles == ["a internal", "a public", "b internal", "b public"]
    assert isinstance(rows[1][header.index("start_date")], datetime.datetime)


def test_export_rows_come_from_a_server_side_iterator(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db.models.query import QuerySet

    chunk_sizes: list[int] = []
    original = QuerySet.iterator

    def spy(self: QuerySet[Any], chunk_size: int | None = None) -> Any:
        chunk_sizes.append(chunk_size or 0)
        return original(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", spy)
    response = signed_in(world.manager).get(reverse("workspace:activity_export_csv"))
    assert chunk_sizes == []  # nothing is read before the response is consumed
    content = b"".join(response.streaming_content).decode("utf-8-sig")
    assert chunk_sizes == [2000]
    assert content.count("\n") == 5  # header and four visible activities


def test_export_with_invalid_filters_goes_back_to_the_list(world: World) -> None:
    response = signed_in(world.officer_a).get(reverse("workspace:activity_export_csv"), {"start_date_after": "x"})
    assert response.status_code == 302 and response["Location"] == f"{LIST}?start_date_after=x"


# Ways back to the list as the user left it (`back`) ---------------------------------------

# The list as the user left it: panel filters, a filter the panel has no box for, the order,
# the page size and the page. Rows carry it in one parameter; every way back rebuilds it.
LEFT = "q=seminar&area=demining&area=education&status=conducted&end_date_after=&sort=title&per_page=50&page=1"
LEFT_HTML = LEFT.replace("&", "&amp;")
BACK = "back=q%3Dseminar%26area%3Ddemining%26area%3Deducation%26status%3Dconducted%26end_date_after%3D%26sort%3Dtitle%26per_page%3D50%26page%3D1"  # noqa: E501


ONE_TIME_KEY = re.compile(r'name="idempotency_key" value="([0-9a-f-]{36})"')


def key_of(content: bytes) -> str:
    """The one-time key a create form carries."""
    found = ONE_TIME_KEY.findall(content.decode())
    assert len(found) == 1, "the form carries exactly one key"
    return found[0]


def breadcrumb(content: str) -> str:
    return content.split('<nav aria-label="breadcrumb">')[1].split("</nav>")[0]


@pytest.fixture
def seminar(world: World) -> Activity:
    activity: Any = ActivityFactory(
        relationship=world.rel_a, title="Demining seminar", area=area("demining"), status="conducted"
    )
    return activity


def test_list_rows_link_to_the_record_with_the_list_as_left(world: World, seminar: Activity) -> None:
    client = signed_in(world.officer_a)
    row_link = f'href="/activities/{seminar.pk}/?{BACK}"'
    table = table_of(client.get(f"{LIST}?{LEFT}").content.decode())
    assert row_link in table
    # Sorting and paging links swap the results only (boosted); a row opens the record's page.
    assert table.count('hx-boost="false"') == 1 and 'hx-boost="false"' in table.split("<tbody")[1].split("</tr>")[0]
    # The htmx partial re-renders the rows with the filters just sent.
    partial = client.get(f"{LIST}?{LEFT}", headers={"HX-Request": "true"}).content.decode()
    assert row_link in partial and "<html" not in partial
    # A `back` in the list's own URL is not carried along.
    assert row_link in client.get(f"{LIST}?{LEFT}&back=status%3Dplanned").content.decode()
    # A fresh list: rows link plainly, and so does the navigation bar everywhere.
    assert f'href="/activities/{seminar.pk}/"' in client.get(LIST).content.decode()
    detail = client.get(f"/activities/{seminar.pk}/?{BACK}").content.decode()
    assert '<a class="nav-link active" href="/activities/">Activities</a>' in detail


def test_a_new_activity_started_from_the_list_leads_back_to_it_as_left(world: World) -> None:
    client = signed_in(world.officer_a)
    new = f'href="/activities/new/?{BACK}"'
    full = client.get(f"{LIST}?{LEFT}").content.decode()
    actions = full.split('id="list-actions"')[1].split("</div>")[0]
    assert new in actions and "hx-swap-oob" not in actions
    # The filters change by htmx: the button follows them, out of band.
    partial = client.get(f"{LIST}?{LEFT}", headers={"HX-Request": "true"}).content.decode()
    swapped = partial.split('id="list-actions"')[1].split("</div>")[0]
    assert 'hx-swap-oob="true"' in swapped and new in swapped
    # Sorting and paging links (boosted, the whole page) take the buttons along with the results.
    assert 'hx-select-oob="#list-actions"' in table_of(full) or 'hx-select-oob="#list-actions"' in full
    assert 'href="/activities/new/"' in client.get(LIST).content.decode()
    # The form passes it on, and its way back is the list as left.
    form = client.get(f"/activities/new/?{BACK}").content.decode()
    assert f'href="{LIST}?{LEFT_HTML}">Activities</a>' in breadcrumb(form)
    assert f'name="back" value="{LEFT_HTML}"' in form


def test_the_detail_page_leads_back_to_the_list_as_left_and_passes_it_on(world: World, seminar: Activity) -> None:
    content = signed_in(world.officer_a).get(f"/activities/{seminar.pk}/?{BACK}").content.decode()
    assert f'<a href="/activities/?{LEFT_HTML}">Activities</a>' in breadcrumb(content)
    for step in ("edit", "duplicate", "cancel", "delete"):
        assert f'href="/activities/{seminar.pk}/{step}/?{BACK}"' in content, step
    Activity.objects.filter(pk=seminar.pk).update(deleted_at=seminar.updated_at)
    content = signed_in(world.officer_a).get(f"/activities/{seminar.pk}/?{BACK}").content.decode()
    assert f'href="/activities/{seminar.pk}/restore/?{BACK}"' in content


def test_editing_leads_back_to_the_list_as_left(world: World, seminar: Activity) -> None:
    client = signed_in(world.officer_a)
    url = reverse("workspace:activity_edit", args=[seminar.pk])
    content = client.get(f"{url}?{BACK}").content.decode()
    crumbs = breadcrumb(content)
    assert f'<a href="/activities/?{LEFT_HTML}">Activities</a>' in crumbs
    assert f'<a href="/activities/{seminar.pk}/?{BACK}">Demining seminar</a>' in crumbs
    assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in content.split('id="activity-form"')[1]
    assert f'<a class="btn btn-link" href="/activities/{seminar.pk}/?{BACK}">Back without saving</a>' in content
    # A refused save keeps the way back; a save leads to the record with it.
    refused = client.post(url, edit_data(seminar, participants="many", back=LEFT)).content.decode()
    assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in refused
    assert f'<a href="/activities/?{LEFT_HTML}">Activities</a>' in breadcrumb(refused)
    saved = client.post(url, edit_data(seminar, title="Demining seminar, Barysaw", back=LEFT))
    assert saved.status_code == 302 and saved["Location"] == f"/activities/{seminar.pk}/?{BACK}"


def test_a_duplicate_leads_to_the_new_record_with_the_list_as_left(world: World, seminar: Activity) -> None:
    client = signed_in(world.officer_a)
    content = client.get(f"/activities/{seminar.pk}/duplicate/?{BACK}").content.decode()
    assert f'<a href="/activities/?{LEFT_HTML}">Activities</a>' in breadcrumb(content)
    assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in content
    assert f'<a class="btn btn-link" href="/activities/?{LEFT_HTML}">Back without saving</a>' in content
    response = client.post(CREATE, form_data(world, external_ref="copy", back=LEFT))
    created = Activity.objects.get(external_ref="copy")
    assert response["Location"] == f"/activities/{created.pk}/?{BACK}"


def test_cancel_delete_and_restore_lead_back_to_the_list_as_left(world: World, seminar: Activity) -> None:
    client = signed_in(world.officer_a)
    content = client.get(f"/activities/{seminar.pk}/delete/?{BACK}").content.decode()
    assert f'<a href="/activities/?{LEFT_HTML}">Activities</a>' in breadcrumb(content)
    assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in content
    assert f'<a class="btn btn-link" href="/activities/{seminar.pk}/?{BACK}">Back</a>' in content

    def action(name: str, version: int) -> Any:
        return client.post(f"/activities/{seminar.pk}/{name}/", {"version": version, "back": LEFT})

    assert action("cancel", 1)["Location"] == f"/activities/{seminar.pk}/?{BACK}"
    assert action("delete", 2)["Location"] == f"{LIST}?{LEFT}"
    assert action("restore", 3)["Location"] == f"/activities/{seminar.pk}/?{BACK}"


def test_editing_a_deleted_activity_sends_back_to_its_page_with_the_list_as_left(world: World) -> None:
    deleted = world.activities["a_deleted"]
    response = signed_in(world.officer_a).get(f"/activities/{deleted.pk}/edit/?{BACK}")
    assert response["Location"] == f"/activities/{deleted.pk}/?{BACK}"


@pytest.mark.parametrize(
    ("back", "list_url"),
    [
        ("//evil.example/x", "/activities/?%2F%2Fevil.example%2Fx="),
        ("https://evil.example/", "/activities/?https%3A%2F%2Fevil.example%2F="),
        ("status=planned&back=https%3A%2F%2Fevil.example%2F", "/activities/?status=planned"),
        ("back=status%3Dplanned", "/activities/"),
        ('q="><script>alert(1)</script>', "/activities/?q=%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"),
        ("q=" + "x" * 3000, "/activities/"),  # over-long: ignored
        ("&" * 1500, "/activities/"),  # more fields than a request may send: ignored
    ],
)
def test_a_crafted_back_only_ever_leads_to_the_list(world: World, seminar: Activity, back: str, list_url: str) -> None:
    """`back` is re-encoded into the list's own URL: never a URL of its own, never nested."""
    client = signed_in(world.officer_a)
    detail = client.get(reverse("workspace:activity_detail", args=[seminar.pk]), {"back": back}).content.decode()
    assert f'<a href="{list_url.replace("&", "&amp;")}">Activities</a>' in breadcrumb(detail)
    assert "evil.example/" not in detail and "<script>alert" not in detail
    response = client.post(
        reverse("workspace:activity_delete", args=[seminar.pk]), {"version": seminar.version, "back": back}
    )
    assert response.status_code == 302 and response["Location"] == list_url


def test_a_form_sent_again_names_the_activity_it_created_with_the_list_as_left(world: World) -> None:
    """The 409 of the one-time key links to the record the first save created, passing the list on."""
    client = signed_in(world.officer_a)
    key = key_of(client.get(f"{CREATE}?{BACK}").content)
    data = form_data(world, idempotency_key=key, back=LEFT)
    client.post(CREATE, data)
    created = Activity.objects.get(title="English course for cadets")
    again = client.post(CREATE, data | {"title": "English course for officers"})
    content = again.content.decode()
    assert again.status_code == 409
    assert f'<a class="alert-link" href="/activities/{created.pk}/?{BACK}">English course for cadets</a>' in content
    assert f'<a href="/activities/?{LEFT_HTML}">Activities</a>' in breadcrumb(content)


def test_a_save_refused_as_stale_keeps_every_way_back(world: World, seminar: Activity) -> None:
    """Someone else saved first (409): the page keeps the list as left in its links and form."""
    services.activity_update(actor=world.admin, activity=seminar, data={"title": "Theirs"}, expected_version=1)
    client = signed_in(world.officer_a)
    for url, data in (
        (f"/activities/{seminar.pk}/edit/", edit_data(seminar, title="Mine", back=LEFT) | {"version": 1}),
        (f"/activities/{seminar.pk}/delete/", {"version": 1, "back": LEFT}),
    ):
        response = client.post(url, data)
        content = response.content.decode()
        assert response.status_code == 409 and 'id="stale-warning"' in content, url
        assert f'<a href="/activities/?{LEFT_HTML}">Activities</a>' in breadcrumb(content), url
        assert f'href="/activities/{seminar.pk}/?{BACK}"' in breadcrumb(content), url
        assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in content, url
        assert f'class="btn btn-link" href="/activities/{seminar.pk}/?{BACK}"' in content, url
