"""Demo data: the case that motivated Attaché, and synthetic volume for benchmarks.

The motivating case: after years of silence the United States and Belarus agreed on
concurrent accreditation. The US military attaché resident in Kyiv also covers Minsk
(from June 2016); the Belarusian military attaché resident in Havana also covers
Washington. The attachés' names are fictional.
"""

from __future__ import annotations

import base64
import csv
import datetime
import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from accounts.services import user_create
from cooperation import intensity, services
from cooperation.audit import audit_context
from cooperation.choices import (
    AccreditationStatus,
    ActivityKind,
    ActivityLevel,
    ActivityStatus,
    Classification,
    Role,
)
from cooperation.models import ACTIVITY_DESCRIPTION_FIELDS, Accreditation, Activity, CooperationArea, Relationship

D = datetime.date
PUBLIC, INTERNAL, RESTRICTED = Classification.PUBLIC, Classification.INTERNAL, Classification.RESTRICTED


@dataclass(frozen=True)
class DemoAccreditation:
    attache: str
    post: str
    host_country: str
    requested_on: datetime.date
    agrement_on: datetime.date
    accredited_on: datetime.date


POSTS = [
    # name, sending, host, city
    ("US Embassy Kyiv", "US", "UA", "Kyiv"),
    ("US Embassy Minsk", "US", "BY", "Minsk"),
    ("Embassy of Belarus in Havana", "BY", "CU", "Havana"),
]

ATTACHES = [
    # name, rank, service, sending country
    ("Daniel R. Whitaker", "Colonel", "army", "US"),
    ("Siarhei A. Malinouski", "Colonel", "joint", "BY"),
]

# fmt: off
ACCREDITATIONS = [
    DemoAccreditation("Daniel R. Whitaker", "US Embassy Kyiv", "UA", D(2015, 5, 4), D(2015, 6, 15), D(2015, 8, 20)),
    DemoAccreditation("Daniel R. Whitaker", "US Embassy Kyiv", "BY", D(2016, 3, 14), D(2016, 5, 23), D(2016, 6, 8)),
    DemoAccreditation("Siarhei A. Malinouski", "Embassy of Belarus in Havana", "CU", D(2015, 9, 1), D(2015, 10, 20), D(2015, 12, 3)),
    DemoAccreditation("Siarhei A. Malinouski", "Embassy of Belarus in Havana", "US", D(2016, 4, 11), D(2016, 7, 18), D(2016, 9, 15)),
]
# fmt: on

DESKS = {
    "Eastern Europe": [("BY", "US"), ("UA", "US")],
    "Americas": [("BY", "CU")],
}

DEMO_USERS = [
    # username, role, clearance, desks
    ("officer", Role.DESK_OFFICER, INTERNAL, ["Eastern Europe"]),
    ("manager", Role.MANAGER, RESTRICTED, []),
    ("analyst", Role.API_CLIENT, INTERNAL, []),
    ("admin", Role.ADMIN, RESTRICTED, []),
]

# The demo admin's TOTP key (hex). Demo only: seed_demo refuses to run in production.
DEMO_TOTP_KEY = "4174746163686520646d6f2074776f2066616374"

GENERAL_AREA = (
    "general",
    "General military relations",
    "Protocol events and consultations outside the four areas.",
    90,
)

C, CO, P, CA, PO = (
    ActivityStatus.CONDUCTED,
    ActivityStatus.CONFIRMED,
    ActivityStatus.PLANNED,
    ActivityStatus.CANCELLED,
    ActivityStatus.POSTPONED,
)
K = ActivityKind
L = ActivityLevel

# ref, pair, area, title, kind, level, status, start, end, participants, location, counterpart, releasability, channel
# channel: the accreditation the activity ran through, as (attaché surname, host country), or None.
WH_BY = ("Whitaker", "BY")
MA_US = ("Malinouski", "US")
WH_UA = ("Whitaker", "UA")
BY_US = ("BY", "US")
# fmt: off
DEMO_ACTIVITIES = [
    ("demo-001", BY_US, "general", "Independence Day reception at the US Embassy in Minsk", K.PROTOCOL_EVENT, L.PROTOCOL, C, D(2016, 6, 29), None, 14, "US Embassy Minsk", "Ministry of Defence of Belarus, International Military Cooperation Department", PUBLIC, WH_BY),
    ("demo-002", BY_US, "education", "English language course for officers (first intake)", K.COURSE, L.WORKING, C, D(2016, 9, 12), D(2016, 12, 16), 16, "Minsk", "Military Academy of Belarus", PUBLIC, WH_BY),
    ("demo-003", BY_US, "peacekeeping", "Seminar on UN peacekeeping staff procedures", K.SEMINAR, L.WORKING, C, D(2016, 10, 17), D(2016, 10, 21), 24, "Minsk", "Peacekeeping company of the Armed Forces of Belarus", INTERNAL, WH_BY),
    ("demo-004", BY_US, "demining", "Demining needs assessment visit", K.VISIT, L.WORKING, C, D(2016, 11, 8), D(2016, 11, 10), 6, "Barysaw", "Engineer Troops Command", INTERNAL, WH_BY),
    ("demo-005", BY_US, "medicine", "Military medicine exchange: combat casualty care", K.SEMINAR, L.WORKING, C, D(2017, 1, 24), D(2017, 1, 26), 20, "Minsk", "Military Medical Department, Ministry of Defence", PUBLIC, WH_BY),
    ("demo-006", BY_US, "education", "English course for cadets of the Military Academy", K.COURSE, L.WORKING, C, D(2017, 2, 6), D(2017, 5, 26), 22, "Minsk", "Military Academy of Belarus", PUBLIC, WH_BY),
    ("demo-007", BY_US, "peacekeeping", "Pre-deployment training support for a peacekeeping company", K.TRAINING, L.WORKING, C, D(2017, 3, 13), D(2017, 3, 24), 45, "Brest", "Peacekeeping company of the Armed Forces of Belarus", INTERNAL, WH_BY),
    ("demo-008", BY_US, "demining", "Donation of mine detection equipment", K.DONATION, L.SENIOR, C, D(2017, 4, 19), None, 8, "Minsk", "Engineer Troops Command", PUBLIC, WH_BY),
    ("demo-009", BY_US, "education", "Military Academy delegation visits a US staff college", K.VISIT, L.SENIOR, C, D(2017, 6, 5), D(2017, 6, 9), 5, "Fort Leavenworth, Kansas", "Military Academy of Belarus", INTERNAL, MA_US),
    ("demo-010", BY_US, "medicine", "Observation of field hospital training", K.VISIT, L.WORKING, C, D(2017, 7, 11), D(2017, 7, 13), 4, "San Antonio, Texas", "Military Medical Department, Ministry of Defence", INTERNAL, MA_US),
    ("demo-011", BY_US, "demining", "Humanitarian demining training for sappers", K.TRAINING, L.WORKING, C, D(2017, 8, 21), D(2017, 9, 1), 30, "Barysaw", "Engineer Troops Command", INTERNAL, WH_BY),
    ("demo-012", BY_US, "peacekeeping", "UN logistics officers course", K.COURSE, L.WORKING, C, D(2017, 9, 18), D(2017, 9, 29), 6, "Garmisch-Partenkirchen", "Peacekeeping company of the Armed Forces of Belarus", INTERNAL, WH_BY),
    ("demo-013", BY_US, "education", "English language course for officers (second intake)", K.COURSE, L.WORKING, C, D(2017, 10, 2), D(2017, 12, 15), 18, "Minsk", "Military Academy of Belarus", PUBLIC, WH_BY),
    ("demo-014", BY_US, "general", "Consultations between the international cooperation departments", K.VISIT, L.SENIOR, C, D(2017, 11, 14), D(2017, 11, 15), 9, "Minsk", "International Military Cooperation Department", INTERNAL, WH_BY),
    ("demo-015", BY_US, "education", "Visit of language instructors", K.VISIT, L.WORKING, C, D(2018, 2, 12), D(2018, 2, 16), 3, "Minsk", "Military Academy of Belarus", PUBLIC, WH_BY),
    ("demo-016", BY_US, "medicine", "Military medical conference delegation", K.SEMINAR, L.SENIOR, C, D(2018, 3, 20), D(2018, 3, 22), 4, "Bethesda, Maryland", "Military Medical Department, Ministry of Defence", PUBLIC, MA_US),
    ("demo-017", BY_US, "peacekeeping", "Observers at a peacekeeping command-post exercise", K.EXERCISE, L.SENIOR, C, D(2018, 4, 23), D(2018, 4, 27), 3, "Brest", "Western Operational Command", RESTRICTED, WH_BY),
    ("demo-018", BY_US, "demining", "Explosive ordnance disposal course", K.COURSE, L.WORKING, C, D(2018, 5, 14), D(2018, 6, 1), 12, "Barysaw", "Engineer Troops Command", INTERNAL, WH_BY),
    ("demo-019", BY_US, "education", "Cadet summer exchange", K.VISIT, L.WORKING, C, D(2018, 6, 25), D(2018, 7, 6), 10, "West Point, New York", "Military Academy of Belarus", PUBLIC, MA_US),
    ("demo-020", BY_US, "demining", "Technical assistance in clearing wartime ordnance", K.TECHNICAL_ASSISTANCE, L.WORKING, C, D(2018, 8, 6), D(2018, 8, 24), 25, "Homel region", "Engineer Troops Command", RESTRICTED, WH_BY),
    ("demo-021", BY_US, "education", "English language course for officers (third intake)", K.COURSE, L.WORKING, C, D(2018, 9, 10), D(2018, 12, 14), 20, "Minsk", "Military Academy of Belarus", PUBLIC, WH_BY),
    ("demo-022", BY_US, "peacekeeping", "Workshop on mission preparation", K.SEMINAR, L.WORKING, C, D(2018, 10, 8), D(2018, 10, 10), 28, "Minsk", "Peacekeeping company of the Armed Forces of Belarus", INTERNAL, WH_BY),
    ("demo-023", BY_US, "medicine", "Combat lifesaver course", K.COURSE, L.WORKING, C, D(2018, 11, 5), D(2018, 11, 16), 24, "Minsk", "Military Medical Department, Ministry of Defence", INTERNAL, WH_BY),
    ("demo-024", BY_US, "education", "Seminar on professional military education", K.SEMINAR, L.SENIOR, C, D(2019, 3, 12), D(2019, 3, 14), 15, "Minsk", "Military Academy of Belarus", PUBLIC, WH_BY),
    ("demo-025", BY_US, "medicine", "Military medicine exchange: trauma surgery", K.SEMINAR, L.WORKING, C, D(2019, 4, 16), D(2019, 4, 18), 18, "Minsk", "Military Medical Department, Ministry of Defence", PUBLIC, WH_BY),
    ("demo-026", BY_US, "peacekeeping", "Staff training before a UN mission rotation", K.TRAINING, L.WORKING, C, D(2019, 5, 13), D(2019, 5, 24), 40, "Brest", "Peacekeeping company of the Armed Forces of Belarus", INTERNAL, WH_BY),
    ("demo-027", BY_US, "demining", "Seminar on mine action information management", K.SEMINAR, L.WORKING, C, D(2019, 6, 4), D(2019, 6, 6), 14, "Minsk", "Engineer Troops Command", PUBLIC, WH_BY),
    ("demo-028", BY_US, "education", "English language course for officers (fourth intake)", K.COURSE, L.WORKING, C, D(2019, 9, 9), D(2019, 12, 13), 20, "Minsk", "Military Academy of Belarus", PUBLIC, WH_BY),
    ("demo-029", BY_US, "demining", "Joint clearance of a former training range", K.TECHNICAL_ASSISTANCE, L.WORKING, PO, D(2019, 10, 7), D(2019, 10, 25), 30, "Vitebsk region", "Engineer Troops Command", INTERNAL, WH_BY),
    ("demo-030", BY_US, "education", "Cadet winter exchange", K.VISIT, L.WORKING, CA, D(2019, 12, 2), D(2019, 12, 13), 8, "Annapolis, Maryland", "Military Academy of Belarus", PUBLIC, MA_US),
    ("demo-031", BY_US, "medicine", "Medical evacuation workshop", K.SEMINAR, L.WORKING, CO, D(2019, 12, 10), D(2019, 12, 12), 16, "Minsk", "Military Medical Department, Ministry of Defence", INTERNAL, WH_BY),
    ("demo-032", BY_US, "peacekeeping", "Exchange of peacekeeping instructors", K.VISIT, L.WORKING, P, D(2020, 2, 17), D(2020, 2, 21), 6, "Minsk", "Peacekeeping company of the Armed Forces of Belarus", INTERNAL, WH_BY),
    ("demo-033", ("UA", "US"), "peacekeeping", "Multinational peacekeeping exercise", K.EXERCISE, L.SENIOR, C, D(2016, 9, 5), D(2016, 9, 16), 200, "Yavoriv", "Armed Forces of Ukraine", PUBLIC, WH_UA),
    ("demo-034", ("UA", "US"), "medicine", "Tactical combat casualty care course", K.COURSE, L.WORKING, C, D(2017, 5, 8), D(2017, 5, 19), 35, "Kyiv", "Military Medical Academy of Ukraine", INTERNAL, WH_UA),
    ("demo-035", ("UA", "US"), "demining", "Counter-IED training", K.TRAINING, L.WORKING, C, D(2018, 3, 5), D(2018, 3, 30), 40, "Kamianets-Podilskyi", "Demining Centre of the Armed Forces of Ukraine", RESTRICTED, WH_UA),
    ("demo-036", ("BY", "CU"), "medicine", "Military medicine exchange in Havana", K.VISIT, L.WORKING, C, D(2017, 2, 20), D(2017, 2, 24), 6, "Havana", "Revolutionary Armed Forces, medical service", INTERNAL, None),
    ("demo-037", ("BY", "CU"), "education", "Cuban officers at the Military Academy of Belarus", K.COURSE, L.WORKING, C, D(2018, 9, 3), D(2018, 12, 21), 4, "Minsk", "Revolutionary Armed Forces", INTERNAL, None),
]
# fmt: on


def _say(out: Callable[[str], None] | None, message: str) -> None:
    if out is not None:
        out(message)


@transaction.atomic
def seed_demo(*, out: Callable[[str], None] | None = None) -> dict[str, int]:
    """Load the demo case. Idempotent: what already exists is left as it is."""
    created = {"accreditations": 0, "activities": 0, "users": 0}
    posts = {
        name: services.post_get_or_create(name=name, sending_country=sending, host_country=host, city=city)
        for name, sending, host, city in POSTS
    }
    attaches = {
        name: services.attache_get_or_create(name=name, rank=rank, service=service, sending_country=country)
        for name, rank, service, country in ATTACHES
    }
    code, name, description, position = GENERAL_AREA
    CooperationArea.objects.get_or_create(
        code=code, defaults={"name": name, "description": description, "position": position}
    )
    for spec in ACCREDITATIONS:
        attache = attaches[spec.attache]
        if Accreditation.objects.filter(attache=attache, host_country=spec.host_country).exists():
            continue
        accreditation = services.accreditation_request(
            actor=None,
            attache=attache,
            post=posts[spec.post],
            host_country=spec.host_country,
            requested_on=spec.requested_on,
        )
        services.accreditation_grant_agrement(actor=None, accreditation=accreditation, on=spec.agrement_on)
        services.accreditation_accredit(actor=None, accreditation=accreditation, on=spec.accredited_on)
        created["accreditations"] += 1
    relationships = {
        pair: services.relationship_get_or_create(country_a=pair[0], country_b=pair[1])
        for pairs in DESKS.values()
        for pair in pairs
    }
    desks = {
        desk: services.desk_get_or_create(name=desk, relationships=[relationships[pair] for pair in pairs])
        for desk, pairs in DESKS.items()
    }
    areas = {area.code: area for area in CooperationArea.objects.all()}
    channels = {
        (accreditation.attache.name.split()[-1], accreditation.host_country.code): accreditation
        for accreditation in Accreditation.objects.select_related("attache").filter(
            status=AccreditationStatus.ACCREDITED
        )
    }
    existing = set(Activity.objects.filter(external_ref__startswith="demo-").values_list("external_ref", flat=True))
    for (
        ref,
        pair,
        area,
        title,
        kind,
        level,
        status,
        start,
        end,
        participants,
        location,
        counterpart,
        releasability,
        channel,
    ) in DEMO_ACTIVITIES:
        if ref in existing:
            continue
        services.activity_create(
            actor=None,
            relationship=relationships[pair],
            area=areas[area],
            title=title,
            kind=kind,
            level=level,
            status=status,
            start_date=start,
            end_date=end,
            participants=participants,
            location=location,
            counterpart=counterpart,
            releasability=releasability,
            accreditation=channels[channel] if channel else None,
            external_ref=ref,
        )
        created["activities"] += 1
    for username, role, clearance, desk_names in DEMO_USERS:
        if User.objects.filter(username=username).exists():
            continue
        user_create(
            username=username,
            role=role,
            clearance=clearance,
            desks=[desks[name] for name in desk_names],
            password=settings.DEMO_PASSWORD,
            validate=False,
        )
        created["users"] += 1
    # Admins must use a second factor: the demo admin gets a device with a known key.
    admin = User.objects.get(username="admin")
    device, _ = TOTPDevice.objects.get_or_create(
        user=admin, name="Demo authenticator", defaults={"key": DEMO_TOTP_KEY, "confirmed": True}
    )
    _say(out, f"Demo logins (password for each: {settings.DEMO_PASSWORD}):")
    for username, role, clearance, desk_names in DEMO_USERS:
        desks_text = f", desks: {', '.join(desk_names)}" if desk_names else ""
        _say(out, f"  {username:<8} {Role(role).label.lower()}, clearance {Classification(clearance).code}{desks_text}")
    key = base64.b32encode(device.bin_key).decode("ascii")
    _say(out, f"  admin's second factor: key {key} in an authenticator app,")
    _say(out, "  or `.venv/bin/python manage.py totp_code admin` for the current code.")
    return created


# Synthetic volume ---------------------------------------------------------------------

SYNTHETIC_COUNTRIES = [
    "US",
    "BY",
    "UA",
    "CU",
    "PL",
    "LT",
    "LV",
    "EE",
    "DE",
    "FR",
    "GB",
    "IT",
    "ES",
    "NL",
    "BE",
    "SE",
    "FI",
    "NO",
    "DK",
    "CZ",
    "SK",
    "HU",
    "RO",
    "BG",
    "MD",
    "GE",
    "AM",
    "AZ",
    "KZ",
    "UZ",
    "TR",
    "GR",
    "RS",
    "HR",
    "SI",
    "AT",
    "CH",
    "IE",
    "PT",
    "CA",
    "MX",
    "BR",
    "AR",
    "CL",
    "IN",
    "CN",
    "JP",
    "KR",
]
SYNTHETIC_FIRST_DAY = D(2010, 1, 1)
SYNTHETIC_LAST_DAY = D(2026, 12, 31)
# A fixed "today" keeps the data independent of the day it is generated.
SYNTHETIC_TODAY = D(2026, 6, 30)
SYNTHETIC_COLUMNS = ("relationship_id", "area_id", *ACTIVITY_DESCRIPTION_FIELDS, "external_ref")


def _synthetic_relationships(rng: random.Random, count: int) -> list[Relationship]:
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < count:
        first, second = rng.sample(SYNTHETIC_COUNTRIES, 2)
        pairs.add((min(first, second), max(first, second)))
    return [services.relationship_get_or_create(country_a=a, country_b=b) for a, b in sorted(pairs)]


def _synthetic_rows(
    rng: random.Random, n: int, seed: int, relationship_ids: list[int], area_ids: list[int]
) -> Iterator[list[object]]:
    weights = [rng.paretovariate(1.2) for _ in relationship_ids]
    span = (SYNTHETIC_LAST_DAY - SYNTHETIC_FIRST_DAY).days
    kinds, levels = ActivityKind.values, ActivityLevel.values
    level_weights = [2, 10, 4, 1]
    places = ["Minsk", "Warsaw", "Vilnius", "Kyiv", "Berlin", "Paris", "Rome", "Madrid", "Oslo", "Ankara", "Ottawa"]
    relationship_choice = rng.choices(relationship_ids, weights=weights, k=n)
    for index in range(n):
        start = SYNTHETIC_FIRST_DAY + datetime.timedelta(days=rng.randrange(span))
        roll = rng.random()
        end = None if roll < 0.55 else start + datetime.timedelta(days=rng.randrange(1, 60 if roll > 0.95 else 14))
        if start <= SYNTHETIC_TODAY:
            status = rng.choices(
                [
                    ActivityStatus.CONDUCTED,
                    ActivityStatus.CANCELLED,
                    ActivityStatus.POSTPONED,
                    ActivityStatus.CONFIRMED,
                    ActivityStatus.PLANNED,
                ],
                weights=[80, 8, 4, 4, 4],
            )[0]
        else:
            status = rng.choice([ActivityStatus.PLANNED, ActivityStatus.CONFIRMED])
        kind = rng.choice(kinds)
        yield [
            relationship_choice[index],
            rng.choice(area_ids),
            f"{ActivityKind(kind).label} {index + 1} (synthetic)",
            kind,
            rng.choices(levels, weights=level_weights)[0],
            status,
            start.isoformat(),
            end.isoformat() if end else None,
            rng.choice(places),
            int(rng.expovariate(1 / 20)),
            "Ministry of Defence",
            "",
            "",
            rng.choices(Classification.values, weights=[30, 55, 15])[0],
            f"synthetic-{seed}-{index + 1}",
        ]


def seed_synthetic(
    *, n: int, seed: int = 1, relationships: int = 200, chunk: int = 200_000, out: Callable[[str], None] | None = None
) -> int:
    """Add `n` plausible activities across many relationships, the same ones for the same seed.

    Rows go through PostgreSQL COPY into a staging table, then one INSERT … SELECT per
    chunk with ON CONFLICT on the external reference, so re-running with the same seed
    adds nothing. The audit triggers fire for every inserted row. The rows bypass the
    services, so the intensity rollups of the relationships are rebuilt at the end.
    """
    rng = random.Random(seed)
    area_ids = list(
        CooperationArea.objects.filter(code__in=["peacekeeping", "education", "demining", "medicine"]).values_list(
            "id", flat=True
        )
    )
    with transaction.atomic():
        relationship_ids = [relationship.pk for relationship in _synthetic_relationships(rng, relationships)]
    inserted = 0
    rows = _synthetic_rows(rng, n, seed, relationship_ids, area_ids)
    columns = ", ".join(SYNTHETIC_COLUMNS)
    done = 0
    while done < n:
        size = min(chunk, n - done)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for _ in range(size):
            writer.writerow(["\\N" if value is None else value for value in next(rows)])
        buffer.seek(0)
        with transaction.atomic(), audit_context(None, "seed_demo.synthetic"), connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE synthetic_activity ON COMMIT DROP AS "
                f"SELECT {columns} FROM cooperation_activity WITH NO DATA"
            )
            cursor.copy_expert(f"COPY synthetic_activity ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
            cursor.execute(
                f"INSERT INTO cooperation_activity ({columns}, version, created_at, updated_at) "
                f"SELECT {columns}, 1, now(), now() FROM synthetic_activity "
                "ON CONFLICT (external_ref) DO NOTHING"
            )
            inserted += cursor.rowcount
            cursor.execute("DROP TABLE synthetic_activity")
        done += size
        _say(out, f"  {done:,} of {n:,} rows generated, {inserted:,} inserted")
    if inserted:
        rebuilt = intensity.rebuild_rollups(relationship_ids=relationship_ids)
        _say(out, f"  intensity rollups rebuilt: {rebuilt.rows:,} rows")
    return inserted
