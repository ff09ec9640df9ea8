"""Write the example member files in this folder, deterministically (``python generate.py``).

Invented people only, on example.org / example.com / example.net addresses. ``members.csv`` is a
clean export of 300 members; ``conference-signup-2026.csv`` is the kind of file a sign-up sheet
produces: Windows-1252, ``;``-separated, odd headers, blank lines, a duplicate, a bad address.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path

HERE = Path(__file__).parent
FIRST = ["Ana", "Maria", "Lucia", "Sofia", "Jasmine", "Keisha", "Emily", "Hannah", "Grace", "Olivia",
         "Aaliyah", "Mei", "Priya", "Fatima", "Rosa", "Carmen", "Tamika", "Laura", "Rebecca", "Julia",
         "James", "Marcus", "David", "Luis", "Carlos", "Andre", "Michael", "Daniel", "Kevin", "Omar",
         "Samuel", "Jorge", "Miguel", "Thomas", "Nathan", "Tyrone", "Ethan", "Hiro", "Ahmed", "Noah"]
LAST = ["Johnson", "Williams", "Brown", "Garcia", "Martinez", "Rodriguez", "Hernandez", "Lopez",
        "Davis", "Miller", "Wilson", "Moore", "Taylor", "Thomas", "Jackson", "White", "Harris",
        "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Nguyen",
        "Hill", "Flores", "Green", "Adams", "Baker", "Rivera", "Campbell", "Mitchell", "Carter",
        "Roberts", "Patel", "Kim", "Okafor", "Reyes", "Cruz", "Morales", "Ortiz", "Gutierrez"]
REGIONS = {
    "Hampton Roads": ["Norfolk", "Virginia Beach", "Chesapeake", "Newport News", "Hampton",
                      "Portsmouth", "Suffolk"],
    "Northern Virginia": ["Fairfax", "Arlington", "Alexandria", "Loudoun", "Prince William"],
    "Richmond/Central": ["Richmond", "Henrico", "Chesterfield", "Hanover", "Petersburg"],
    "Shenandoah Valley": ["Harrisonburg", "Staunton", "Winchester", "Waynesboro"],
    "Roanoke/New River Valley": ["Roanoke", "Blacksburg", "Christiansburg", "Salem"],
    "Southwest": ["Abingdon", "Bristol", "Wise", "Marion"],
    "Southside": ["Danville", "Martinsville", "South Boston", "Farmville"],
    "Eastern Shore": ["Accomack", "Northampton"],
    "Central/Piedmont": ["Charlottesville", "Lynchburg", "Culpeper", "Fredericksburg"],
}
ROLES = {
    "parent or caregiver": ["", ""],
    "home visitor": ["Healthy Families {c}", "{c} Early Head Start", "Resource Mothers {c}"],
    "pediatric clinician": ["{c} Pediatrics", "Children's Clinic of {c}", "{c} Family Medicine"],
    "early educator": ["{c} Early Learning Center", "Little Steps Child Care ({c})",
                       "{c} Public Schools Pre-K"],
    "mental-health clinician": ["{c} Community Services Board", "{c} Family Counseling",
                                "Infant & Family Therapy of {c}"],
    "student": ["Virginia Commonwealth University", "Old Dominion University",
                "James Madison University", "George Mason University", "Radford University"],
}
ROLE_WEIGHTS = [22, 16, 14, 20, 20, 8]
DOMAINS = ["example.org", "example.com", "example.net", "mail.example.org", "csb.example.net",
           "schools.example.org"]
ENDORSEMENTS = ["IMH-E Infant Family Associate", "IMH-E Infant Family Specialist",
                "IMH-E Infant Mental Health Specialist", "IMH-E Infant Mental Health Mentor"]


def members(count: int = 300, seed: int = 2026) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows, seen = [], set()
    today = date(2026, 3, 1)
    while len(rows) < count:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}".lower()
        if email in seen:
            email = f"{email}{rng.randint(2, 99)}"
        if email in seen:
            continue
        seen.add(email)
        role = rng.choices(list(ROLES), ROLE_WEIGHTS)[0]
        region = rng.choice(list(REGIONS))
        city = rng.choice(REGIONS[region])
        organisation = rng.choice(ROLES[role]).format(c=city)
        spanish = rng.random() < (0.35 if role in ("parent or caregiver", "home visitor") else 0.08)
        topics = ["monthly-newsletter"]
        if role != "parent or caregiver" or rng.random() < 0.3:
            topics.append("trainings-events")
        if rng.random() < 0.3:
            topics.append("policy-advocacy")
        if spanish:
            topics.append("spanish-edition")
        tags = []
        endorsement, renewal = "", ""
        if role in ("home visitor", "mental-health clinician", "pediatric clinician",
                    "early educator") and rng.random() < 0.35:
            endorsement = rng.choice(ENDORSEMENTS)
            renewal = (today + timedelta(days=rng.randint(-30, 420))).isoformat()
            tags.append("endorsed")
        if rng.random() < 0.25:
            tags.append("member")
        if rng.random() < 0.12:
            tags.append("2025-conference")
        if role == "mental-health clinician" and rng.random() < 0.3:
            tags.append("reflective-supervisor")
        rows.append({
            "Email": f"{email}@{rng.choice(DOMAINS)}",
            "First Name": first,
            "Last Name": last,
            "Organization": organisation,
            "Role": role,
            "Region": region,
            "County or City": city,
            "Preferred Language": "Spanish" if spanish else "English",
            "Topics": "; ".join(topics),
            "Tags": "; ".join(tags),
            "Endorsement": endorsement,
            "Renewal Date": renewal,
            "Years in Field": "" if role == "parent or caregiver" else str(rng.randint(0, 30)),
            "Member Since": (today - timedelta(days=rng.randint(0, 2200))).isoformat(),
            "Consent": rng.choice(["Membership application", "Website sign-up form",
                                   "2025 annual conference registration"]),
        })
    return rows


def write_members(path: Path, rows: list[dict[str, str]]) -> None:
    # Through outreach's one CSV writer (no cell may start a spreadsheet formula).
    from outreach.audience.csv_write import csv_writer

    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv_writer(out)
        writer.writerow(list(rows[0]))
        writer.writerows([row[name] for name in rows[0]] for row in rows)


SIGNUP = """E-mail Address;Nombre;Apellido;Organisation;Role;Idioma;Comments
"José.Ramírez@Example.ORG";José;Ramírez;Centro de Familias (Alexandria);parent or caregiver;Español;"Quiere recibir el boletín; también en papel"

renée.dubois@example.com;Renée;Dubois;Hampton Early Head Start;home visitor;English;
ana.garcia@example.net ;Ana;García;"Healthy Families Norfolk; Portsmouth";home visitor;Spanish;"Asked about the
endorsement process"
ANA.GARCIA@EXAMPLE.NET;Ana;García-López;;home visitor;Spanish;duplicate from the second sheet
not-an-address;Sam;Lee;;student;English;
zoë.chen@example.org;Zoë;Chen;Roanoke Valley CSB;mental-health clinician;English;“Great keynote”
"""


def write_signup(path: Path) -> None:
    path.write_bytes(SIGNUP.replace("\n", "\r\n").encode("cp1252"))


if __name__ == "__main__":
    write_members(HERE / "members.csv", members())
    write_signup(HERE / "conference-signup-2026.csv")
