"""Accreditation pages: list, detail with lifecycle and history, request, steps, timeline."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from cooperation import services
from cooperation.choices import AccreditationKind, AccreditationStatus
from cooperation.models import Accreditation
from cooperation.selectors import history_for
from tests.conftest import World
from tests.factories import AccreditationFactory, AttacheFactory, DeskFactory, PostFactory, UserFactory
from tests.web.test_activities import key_of

pytestmark = pytest.mark.django_db


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def kyiv(world: World) -> Any:
    return PostFactory(name="US Embassy Kyiv", sending_country="US", host_country="UA", city="Kyiv")


@pytest.fixture
def whitaker(world: World, kyiv: Any) -> Accreditation:
    """Resident in Kyiv (UA desk is nobody's here), concurrent to Belarus (desk A)."""
    attache = AttacheFactory(name="Daniel Whitaker", sending_country="US")
    AccreditationFactory(attache=attache, post=kyiv)
    concurrent: Any = AccreditationFactory(
        attache=attache,
        post=kyiv,
        host_country="BY",
        kind=AccreditationKind.CONCURRENT,
        requested_on=datetime.date(2016, 3, 14),
        agrement_on=datetime.date(2016, 5, 23),
        accredited_on=datetime.date(2016, 6, 8),
    )
    return concurrent


def test_list_filters_by_status_and_search(world: World, whitaker: Accreditation) -> None:
    client = signed_in(world.officer_a)
    content = client.get(reverse("workspace:accreditation_list"), {"q": "whitaker"}).content.decode()
    assert "Daniel Whitaker" in content and "<strong>1</strong> accreditation" in content  # UA is not on desk A
    content = client.get(reverse("workspace:accreditation_list"), {"status": "ended"}).content.decode()
    assert "Daniel Whitaker" not in content


def test_list_status_and_kind_filters_are_checkboxes_that_keep_their_state(
    world: World, whitaker: Accreditation
) -> None:
    """The filter panel's status and kind choices are ticked boxes, as on the activity list;
    the state sent is shown ticked."""
    client = signed_in(world.officer_a)
    content = client.get(reverse("workspace:accreditation_list"), {"status": "accredited"}).content.decode()
    assert "<option" not in content.split('id="accreditation-filters"')[1].split("Host country")[0]
    ticked = 'type="checkbox" name="status" value="accredited" class="form-check-input" id="id_status_2" checked'
    assert ticked in content
    assert 'type="checkbox" name="status" value="ended"' in content
    assert 'type="checkbox" name="kind" value="concurrent"' in content
    assert '<label class="form-check-label" for="id_kind_1">Concurrent</label>' in content


def test_list_filter_form_sends_the_sort_and_page_size_again(world: World, whitaker: Accreditation) -> None:
    """Filtering a list sorted by a column (or shown 50 rows a page) keeps that order and size."""
    client = signed_in(world.officer_a)
    content = client.get(
        reverse("workspace:accreditation_list"), {"sort": "attache", "per_page": 50, "page": 1}
    ).content.decode()
    form = content.split('id="accreditation-filters"')[1].split("</form>")[0]
    assert '<input type="hidden" name="sort" value="attache">' in form
    assert '<input type="hidden" name="per_page" value="50">' in form
    assert 'name="page"' not in form  # new filters start on the first page


def test_detail_shows_lifecycle_steps_and_history(
    world: World, whitaker: Accreditation, django_assert_max_num_queries: Any
) -> None:
    client = signed_in(world.officer_a)
    client.get(reverse("workspace:accreditation_list"))
    with django_assert_max_num_queries(10):
        content = client.get(reverse("workspace:accreditation_detail", kwargs={"pk": whitaker.pk})).content.decode()
    assert "Daniel Whitaker" in content and "Concurrent" in content
    assert "<span>Accredited</span><span>2016-06-08</span>" in content
    assert f'href="/accreditations/{whitaker.pk}/end/"' in content
    assert f'href="/accreditations/{whitaker.pk}/grant_agrement/"' not in content  # not from "accredited"


def test_ending_a_resident_accreditation_says_which_concurrent_ones_end_with_it(
    world: World, whitaker: Accreditation
) -> None:
    """Before and after: the user learns that the concurrent accreditations riding on the
    resident one end too (those they may see; another desk's stay unnamed)."""
    resident = Accreditation.objects.get(attache=whitaker.attache, kind=AccreditationKind.RESIDENT)
    url = reverse("workspace:accreditation_end", kwargs={"pk": resident.pk})
    ua_desk = DeskFactory(name="Ukraine", relationships=[resident.relationship])
    ua_officer = UserFactory(username="officer_ua", desks=[ua_desk])
    assert "riding" not in signed_in(ua_officer).get(url).content.decode()  # Belarus is not theirs to see

    admin = signed_in(world.admin)
    page = admin.get(url).content.decode()
    warning = page.split('id="riding"')[1].split("</div>")[0]
    assert "also ends" in warning and "Daniel Whitaker → Belarus (concurrent, accredited)" in warning
    response = admin.post(url, {"on": "2019-07-31", "version": resident.version}, follow=True)
    messages = [str(message) for message in response.context["messages"]]
    assert messages == ["Recorded: ended. Ended with it: Colonel Daniel Whitaker → Belarus (concurrent, accredited)."]
    whitaker.refresh_from_db()
    assert whitaker.status == AccreditationStatus.ENDED and whitaker.ended_on == datetime.date(2019, 7, 31)
    # A concurrent accreditation ends alone.
    assert (
        "riding" not in admin.get(reverse("workspace:accreditation_end", kwargs={"pk": whitaker.pk})).content.decode()
    )


def test_page_titles_name_the_accreditation(world: World, whitaker: Accreditation) -> None:
    """Tabs and history entries say which accreditation, not only "Accreditation"."""
    client = signed_in(world.officer_a)
    name = "Colonel Daniel Whitaker → Belarus"
    for url, title in (
        (reverse("workspace:accreditation_detail", kwargs={"pk": whitaker.pk}), f"{name} · Accreditations"),
        (reverse("workspace:accreditation_edit", kwargs={"pk": whitaker.pk}), f"Edit notes: {name}"),
        (reverse("workspace:accreditation_end", kwargs={"pk": whitaker.pk}), f"Ended: {name}"),
    ):
        assert f"<title>{title} · Attaché</title>" in client.get(url).content.decode(), url


def test_ending_an_accreditation_with_its_date(world: World, whitaker: Accreditation) -> None:
    client = signed_in(world.officer_a)
    url = reverse("workspace:accreditation_end", kwargs={"pk": whitaker.pk})
    response = client.post(url, {"on": "2019-07-31", "version": whitaker.version})
    assert response.status_code == 302
    whitaker.refresh_from_db()
    assert whitaker.status == AccreditationStatus.ENDED and whitaker.ended_on == datetime.date(2019, 7, 31)
    detail = client.get(response["Location"]).content.decode()
    assert "accreditation.end" in detail and "officer_a" in detail


def test_an_illegal_step_or_bad_date_is_a_clear_error_and_changes_nothing(
    world: World, whitaker: Accreditation
) -> None:
    client = signed_in(world.officer_a)
    grant = reverse("workspace:accreditation_grant_agrement", kwargs={"pk": whitaker.pk})
    content = client.post(grant, {"on": "2016-07-01", "version": whitaker.version}).content.decode()
    assert "Cannot grant agrément to this accreditation: it is &#x27;accredited&#x27;" in content
    end = reverse("workspace:accreditation_end", kwargs={"pk": whitaker.pk})
    content = client.post(end, {"on": "2010-01-01", "version": whitaker.version}).content.decode()
    assert "An accreditation cannot end before it began." in content
    content = client.post(end, {"on": "yesterday", "version": whitaker.version}).content.decode()
    assert 'id="id_on_errors">Enter a valid date.' in content
    whitaker.refresh_from_db()
    assert whitaker.status == AccreditationStatus.ACCREDITED and whitaker.version == 1


def test_a_stale_step_is_refused_with_the_changes(world: World, whitaker: Accreditation) -> None:
    services.accreditation_update(
        actor=world.admin, accreditation=whitaker, data={"notes": "Hello"}, expected_version=1
    )
    url = reverse("workspace:accreditation_end", kwargs={"pk": whitaker.pk})
    response = signed_in(world.officer_a).post(url, {"on": "2019-07-31", "version": 1})
    assert response.status_code == 409 and "<strong>Notes</strong>: — → Hello" in response.content.decode()
    whitaker.refresh_from_db()
    assert whitaker.status == AccreditationStatus.ACCREDITED


def test_requesting_an_accreditation(world: World, kyiv: Any) -> None:
    attache = AttacheFactory(name="New Attaché", sending_country="US")
    client = signed_in(world.officer_a)
    data = {"attache": attache.pk, "post": kyiv.pk, "host_country": "BY", "requested_on": "2020-01-10",
            "releasability": 10, "notes": ""}  # fmt: skip
    response = client.post(reverse("workspace:accreditation_create"), data)
    created = Accreditation.objects.get(attache=attache)
    assert response["Location"] == f"/accreditations/{created.pk}/"
    assert created.kind == AccreditationKind.CONCURRENT and created.created_by == world.officer_a
    refused = client.post(
        reverse("workspace:accreditation_create"), data | {"host_country": "CU", "attache": attache.pk}
    )
    assert refused.status_code == 400
    assert "You may not record anything for Cuba – United States." in refused.content.decode()


def test_editing_notes_keeps_the_lifecycle(world: World, whitaker: Accreditation) -> None:
    url = reverse("workspace:accreditation_edit", kwargs={"pk": whitaker.pk})
    response = signed_in(world.officer_a).post(url, {"releasability": 10, "notes": "Covers Minsk", "version": 1})
    assert response.status_code == 302
    whitaker.refresh_from_db()
    assert whitaker.notes == "Covers Minsk" and whitaker.version == 2


def test_attache_timeline_shows_resident_and_concurrent_accreditations_they_may_see(
    world: World, whitaker: Accreditation, django_assert_max_num_queries: Any
) -> None:
    url = reverse("workspace:attache_detail", kwargs={"pk": whitaker.attache_id})
    admin = signed_in(world.admin)
    admin.get(reverse("workspace:accreditation_list"))
    with django_assert_max_num_queries(6):
        content = admin.get(url).content.decode()
    assert content.count('<li class="timeline-row">') == 2
    assert 'class="timeline-resident"' in content and 'class="timeline-concurrent"' in content
    assert "Ukraine · resident · accredited" in content and "Belarus · concurrent · accredited" in content
    officer = signed_in(world.officer_a).get(url).content.decode()
    assert "Belarus · concurrent" in officer and "Ukraine · resident" not in officer  # UA is not on desk A


def test_list_query_count_does_not_grow_with_rows(world: World, django_assert_max_num_queries: Any) -> None:
    client = signed_in(world.manager)
    url = reverse("workspace:accreditation_list")
    client.get(url)
    with django_assert_max_num_queries(8):
        empty = client.get(url).content.decode()
    for index in range(30):
        AccreditationFactory(
            attache=AttacheFactory(name=f"Attaché {index:02d}", sending_country="US"),
            post=PostFactory(sending_country="US", host_country="BY", city="Minsk"),
        )
    with django_assert_max_num_queries(8):
        many = client.get(url, {"per_page": 50}).content.decode()
    assert "<strong>0</strong> accreditations" in empty
    assert "<strong>30</strong> accreditations" in many and "Attaché 29" in many


def test_ending_a_resident_accreditation_records_who_on_it_and_on_the_concurrent_ones_it_ends(
    world: World, whitaker: Accreditation
) -> None:
    """The concurrent accreditation ends with the resident one (a system step inside the
    same request): neither history may lose the person who ended it."""
    resident = Accreditation.objects.get(attache=whitaker.attache, kind=AccreditationKind.RESIDENT)
    url = reverse("workspace:accreditation_end", kwargs={"pk": resident.pk})
    response = signed_in(world.admin).post(url, {"on": "2019-07-31", "version": resident.version})
    assert response.status_code == 302
    whitaker.refresh_from_db()
    assert whitaker.status == AccreditationStatus.ENDED
    for record in (resident, whitaker):
        latest = history_for(record)[0]
        assert (latest.user, latest.action) == (world.admin, "accreditation.end"), record
        assert ("ended on", None, "2019-07-31") in latest.changes
    detail = signed_in(world.officer_a).get(reverse("workspace:accreditation_detail", kwargs={"pk": whitaker.pk}))
    assert "<td>admin</td>\n      <td>accreditation.end</td>" in detail.content.decode()


@pytest.mark.parametrize(
    ("field", "value"), [("requested_on", "9999-12-31"), ("requested_on", "0001-01-01"), ("requested_on", "1899-12-31")]
)
def test_a_request_date_outside_the_calendar_is_a_field_error(world: World, kyiv: Any, field: str, value: str) -> None:
    attache = AttacheFactory(name="New Attaché", sending_country="US")
    data = {"attache": attache.pk, "post": kyiv.pk, "host_country": "BY", "requested_on": "2020-01-10",
            "releasability": 10, "notes": ""}  # fmt: skip
    response = signed_in(world.officer_a).post(reverse("workspace:accreditation_create"), data | {field: value})
    content = response.content.decode()
    assert response.status_code == 400
    assert f'id="id_{field}_errors">Choose a date between 1900-01-01 and 2199-12-31.' in content
    assert not Accreditation.objects.filter(attache=attache).exists()


def test_a_step_date_outside_the_calendar_is_a_field_error(world: World, whitaker: Accreditation) -> None:
    url = reverse("workspace:accreditation_end", kwargs={"pk": whitaker.pk})
    response = signed_in(world.officer_a).post(url, {"on": "9999-12-31", "version": whitaker.version})
    assert response.status_code == 400
    assert 'id="id_on_errors">Choose a date between 1900-01-01 and 2199-12-31.' in response.content.decode()
    whitaker.refresh_from_db()
    assert whitaker.status == AccreditationStatus.ACCREDITED and whitaker.version == 1


def test_the_timeline_of_an_attache_requested_at_the_end_of_the_calendar_still_renders(world: World) -> None:
    """Stored before dates were bounded (or written around the services): the page must
    not fail on the calendar's last day."""
    accreditation = AccreditationFactory(
        attache=AttacheFactory(name="Far Future", sending_country="US"),
        post=PostFactory(sending_country="US", host_country="BY", city="Minsk"),
        requested_on=datetime.date(9999, 12, 20),
        agrement_on=None,
        accredited_on=None,
        status=AccreditationStatus.REQUESTED,
    )
    client = Client(raise_request_exception=False)
    client.force_login(world.admin)
    response = client.get(reverse("workspace:attache_detail", kwargs={"pk": accreditation.attache_id}))
    assert response.status_code == 200
    assert "Far Future" in response.content.decode()


# Ways back to the list as the user left it (`back`) ---------------------------------------

LEFT = "q=whitaker&status=accredited&kind=concurrent&sort=attache&per_page=50&page=1"
LEFT_HTML = LEFT.replace("&", "&amp;")
BACK = "back=q%3Dwhitaker%26status%3Daccredited%26kind%3Dconcurrent%26sort%3Dattache%26per_page%3D50%26page%3D1"


def breadcrumb(content: str) -> str:
    return content.split('<nav aria-label="breadcrumb">')[1].split("</nav>")[0]


def test_list_rows_link_to_the_accreditation_and_the_attache_with_the_list_as_left(
    world: World, whitaker: Accreditation
) -> None:
    client = signed_in(world.officer_a)
    content = client.get(f"{reverse('workspace:accreditation_list')}?{LEFT}").content.decode()
    table = content.split('id="accreditation-table"')[1]
    assert f'href="/accreditations/{whitaker.pk}/?{BACK}"' in table
    assert f'href="/attaches/{whitaker.attache_id}/?{BACK}"' in table
    fresh = client.get(reverse("workspace:accreditation_list")).content.decode()
    assert f'href="/accreditations/{whitaker.pk}/"' in fresh


def test_the_accreditation_pages_lead_back_to_the_list_as_left(world: World, whitaker: Accreditation) -> None:
    client = signed_in(world.officer_a)
    to_list = f'<a href="/accreditations/?{LEFT_HTML}">Accreditations</a>'
    to_detail = f'href="/accreditations/{whitaker.pk}/?{BACK}"'
    detail = client.get(f"/accreditations/{whitaker.pk}/?{BACK}").content.decode()
    assert to_list in breadcrumb(detail)
    assert '<a class="nav-link active" href="/accreditations/">Accreditations</a>' in detail
    for url in (f"/accreditations/{whitaker.pk}/edit/", f"/accreditations/{whitaker.pk}/end/"):
        assert f'href="{url}?{BACK}"' in detail, url
        page = client.get(f"{url}?{BACK}").content.decode()
        assert to_list in breadcrumb(page) and to_detail in breadcrumb(page), url
        assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in page, url
        assert f'<a class="btn btn-link" {to_detail}>' in page, url
    # The attaché's page: back to the list, and on to their accreditations with it.
    assert f'href="/attaches/{whitaker.attache_id}/?{BACK}"' in detail
    attache = client.get(f"/attaches/{whitaker.attache_id}/?{BACK}").content.decode()
    assert to_list in breadcrumb(attache)
    assert to_detail in attache.split('id="attache-accreditations"')[1]


def test_saving_notes_or_a_step_leads_to_the_accreditation_with_the_list_as_left(
    world: World, whitaker: Accreditation
) -> None:
    client = signed_in(world.officer_a)
    notes = {"releasability": 10, "notes": "Covers Minsk", "version": 1, "back": LEFT}
    edit = client.post(f"/accreditations/{whitaker.pk}/edit/", notes)
    assert edit["Location"] == f"/accreditations/{whitaker.pk}/?{BACK}"
    refused = client.post(f"/accreditations/{whitaker.pk}/end/", {"on": "yesterday", "version": 2, "back": LEFT})
    assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in refused.content.decode()
    step = client.post(f"/accreditations/{whitaker.pk}/end/", {"on": "2019-07-31", "version": 2, "back": LEFT})
    assert step["Location"] == f"/accreditations/{whitaker.pk}/?{BACK}"
    # A crafted one is re-encoded into the list's own URL.
    detail = client.get(f"/accreditations/{whitaker.pk}/", {"back": "//evil.example/x&back=q%3Dx"}).content.decode()
    assert '<a href="/accreditations/?%2F%2Fevil.example%2Fx=">Accreditations</a>' in breadcrumb(detail)


def test_an_accreditation_requested_from_the_list_leads_back_to_it_as_left(world: World, kyiv: Any) -> None:
    client = signed_in(world.officer_a)
    list_url = reverse("workspace:accreditation_list")
    request_url = reverse("workspace:accreditation_create")
    content = client.get(f"{list_url}?{LEFT}").content.decode()
    assert f'href="{request_url}?{BACK}">Request an accreditation</a>' in content
    assert f'href="{request_url}">Request an accreditation</a>' in client.get(list_url).content.decode()

    to_list = f'<a href="/accreditations/?{LEFT_HTML}">Accreditations</a>'
    form = client.get(f"{request_url}?{BACK}").content.decode()
    assert to_list in breadcrumb(form)
    assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in form.split('id="accreditation-form"')[1]
    assert f'<a class="btn btn-link" href="/accreditations/?{LEFT_HTML}">Back without saving</a>' in form

    attache = AttacheFactory(name="New Attaché", sending_country="US")
    data = {"attache": attache.pk, "post": kyiv.pk, "host_country": "BY", "requested_on": "2020-01-10",
            "releasability": 10, "notes": "", "back": LEFT}  # fmt: skip
    refused = client.post(request_url, data | {"host_country": ""}).content.decode()
    assert to_list in breadcrumb(refused) and f'name="back" value="{LEFT_HTML}"' in refused
    created = client.post(request_url, data)
    accreditation = Accreditation.objects.get(attache=attache)
    assert created["Location"] == f"/accreditations/{accreditation.pk}/?{BACK}"
    assert to_list in breadcrumb(client.get(created["Location"]).content.decode())


def test_a_request_sent_again_names_the_accreditation_it_created_with_the_list_as_left(world: World, kyiv: Any) -> None:
    """The 409 of the one-time key links to the record the first save created, passing the list on."""
    client = signed_in(world.officer_a)
    request_url = reverse("workspace:accreditation_create")
    key = key_of(client.get(request_url).content)
    attache = AttacheFactory(name="New Attaché", sending_country="US")
    data = {"attache": attache.pk, "post": kyiv.pk, "host_country": "BY", "requested_on": "2020-01-10",
            "releasability": 10, "notes": "", "back": LEFT, "idempotency_key": key}  # fmt: skip
    client.post(request_url, data)
    accreditation = Accreditation.objects.get(attache=attache)
    again = client.post(request_url, data | {"notes": "Covers Minsk"})
    content = again.content.decode()
    assert again.status_code == 409
    assert f'class="alert-link" href="/accreditations/{accreditation.pk}/?{BACK}"' in content
    assert f'<a href="/accreditations/?{LEFT_HTML}">Accreditations</a>' in breadcrumb(content)


def test_a_step_or_edit_refused_as_stale_keeps_every_way_back(world: World, whitaker: Accreditation) -> None:
    """Someone else saved first (409): the page keeps the list as left in its links and form."""
    services.accreditation_update(
        actor=world.admin, accreditation=whitaker, data={"notes": "Hello"}, expected_version=1
    )
    client = signed_in(world.officer_a)
    for url, data in (
        (f"/accreditations/{whitaker.pk}/end/", {"on": "2019-07-31", "version": 1, "back": LEFT}),
        (f"/accreditations/{whitaker.pk}/edit/", {"releasability": 10, "notes": "Mine", "version": 1, "back": LEFT}),
    ):
        response = client.post(url, data)
        content = response.content.decode()
        assert response.status_code == 409 and 'id="stale-warning"' in content, url
        assert f'<a href="/accreditations/?{LEFT_HTML}">Accreditations</a>' in breadcrumb(content), url
        assert f'<input type="hidden" name="back" value="{LEFT_HTML}">' in content, url
        assert f'class="btn btn-link" href="/accreditations/{whitaker.pk}/?{BACK}"' in content, url
