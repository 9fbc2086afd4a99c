"""Quiet hours for text messages: none before 08:00 or from 21:00 in the borrower's own time, as
Reg F §1006.6(b)(1)(i) and FCA CONC 7.9 expect of collection contact (review-servicing M3).

The borrower's time zone is read from the KYC record's address country: every zone tzdata lists for
that country (`zone1970.tab`) must be within the allowed hours, so a country spanning several (the
United States, Russia, China) is texted only while it is day in all of them. A country tzdata does
not know, or no KYC country, is judged in UTC. The phone number's country code is not used (a number
moves with its owner; the address is what KYC checked)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo

QUIET_FROM, QUIET_UNTIL = 21, 8  # local hours: no text from 21:00 to 08:00
STEP = 15 * 60  # the next allowed moment, to the quarter hour

# ISO 3166-1 alpha-3 to alpha-2: the 249 codes of Debian's iso-codes 4.15, as `identity/checks/countries.py`.
ALPHA2 = dict(pair.split(":") for pair in """
    ABW:AW AFG:AF AGO:AO AIA:AI ALA:AX ALB:AL AND:AD ARE:AE ARG:AR ARM:AM ASM:AS ATA:AQ ATF:TF ATG:AG AUS:AU
    AUT:AT AZE:AZ BDI:BI BEL:BE BEN:BJ BES:BQ BFA:BF BGD:BD BGR:BG BHR:BH BHS:BS BIH:BA BLM:BL BLR:BY BLZ:BZ
    BMU:BM BOL:BO BRA:BR BRB:BB BRN:BN BTN:BT BVT:BV BWA:BW CAF:CF CAN:CA CCK:CC CHE:CH CHL:CL CHN:CN CIV:CI
    CMR:CM COD:CD COG:CG COK:CK COL:CO COM:KM CPV:CV CRI:CR CUB:CU CUW:CW CXR:CX CYM:KY CYP:CY CZE:CZ DEU:DE
    DJI:DJ DMA:DM DNK:DK DOM:DO DZA:DZ ECU:EC EGY:EG ERI:ER ESH:EH ESP:ES EST:EE ETH:ET FIN:FI FJI:FJ FLK:FK
    FRA:FR FRO:FO FSM:FM GAB:GA GBR:GB GEO:GE GGY:GG GHA:GH GIB:GI GIN:GN GLP:GP GMB:GM GNB:GW GNQ:GQ GRC:GR
    GRD:GD GRL:GL GTM:GT GUF:GF GUM:GU GUY:GY HKG:HK HMD:HM HND:HN HRV:HR HTI:HT HUN:HU IDN:ID IMN:IM IND:IN
    IOT:IO IRL:IE IRN:IR IRQ:IQ ISL:IS ISR:IL ITA:IT JAM:JM JEY:JE JOR:JO JPN:JP KAZ:KZ KEN:KE KGZ:KG KHM:KH
    KIR:KI KNA:KN KOR:KR KWT:KW LAO:LA LBN:LB LBR:LR LBY:LY LCA:LC LIE:LI LKA:LK LSO:LS LTU:LT LUX:LU LVA:LV
    MAC:MO MAF:MF MAR:MA MCO:MC MDA:MD MDG:MG MDV:MV MEX:MX MHL:MH MKD:MK MLI:ML MLT:MT MMR:MM MNE:ME MNG:MN
    MNP:MP MOZ:MZ MRT:MR MSR:MS MTQ:MQ MUS:MU MWI:MW MYS:MY MYT:YT NAM:NA NCL:NC NER:NE NFK:NF NGA:NG NIC:NI
    NIU:NU NLD:NL NOR:NO NPL:NP NRU:NR NZL:NZ OMN:OM PAK:PK PAN:PA PCN:PN PER:PE PHL:PH PLW:PW PNG:PG POL:PL
    PRI:PR PRK:KP PRT:PT PRY:PY PSE:PS PYF:PF QAT:QA REU:RE ROU:RO RUS:RU RWA:RW SAU:SA SDN:SD SEN:SN SGP:SG
    SGS:GS SHN:SH SJM:SJ SLB:SB SLE:SL SLV:SV SMR:SM SOM:SO SPM:PM SRB:RS SSD:SS STP:ST SUR:SR SVK:SK SVN:SI
    SWE:SE SWZ:SZ SXM:SX SYC:SC SYR:SY TCA:TC TCD:TD TGO:TG THA:TH TJK:TJ TKL:TK TKM:TM TLS:TL TON:TO TTO:TT
    TUN:TN TUR:TR TUV:TV TWN:TW TZA:TZ UGA:UG UKR:UA UMI:UM URY:UY USA:US UZB:UZ VAT:VA VCT:VC VEN:VE VGB:VG
    VIR:VI VNM:VN VUT:VU WLF:WF WSM:WS YEM:YE ZAF:ZA ZMB:ZM ZWE:ZW
""".split())


@cache
def _zone_table() -> dict[str, tuple[str, ...]]:
    """alpha-2 country code -> its IANA zones, from tzdata's zone1970.tab (the system's, or the
    `tzdata` package's); empty when neither is there (every country is then judged in UTC)."""
    text = None
    for base in TZPATH:
        path = Path(base) / "zone1970.tab"
        if path.is_file():
            text = path.read_text()
            break
    if text is None:
        try:
            text = (resources.files("tzdata") / "zoneinfo" / "zone1970.tab").read_text()
        except (ModuleNotFoundError, FileNotFoundError):
            return {}
    zones: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            codes, _, zone, *_ = line.split("\t")
            for code in codes.split(","):
                zones.setdefault(code, []).append(zone)
    return {code: tuple(names) for code, names in zones.items()}


def zones_of(country: str | None) -> tuple[ZoneInfo, ...]:
    """The time zones of an address country (alpha-3); UTC when unknown."""
    names = _zone_table().get(ALPHA2.get((country or "").upper(), ""), ())
    return tuple(ZoneInfo(name) for name in names) or (ZoneInfo("UTC"),)


def _quiet_at(ts: int, zones: tuple[ZoneInfo, ...]) -> bool:
    return any(not QUIET_UNTIL <= datetime.fromtimestamp(ts, zone).hour < QUIET_FROM for zone in zones)


def next_allowed(now: int, country: str | None) -> int | None:
    """None when a text may go now; else the first quarter hour at which it may (within two days)."""
    zones = zones_of(country)
    if not _quiet_at(now, zones):
        return None
    at = now - now % STEP + STEP
    while at < now + 2 * 86_400 and _quiet_at(at, zones):
        at += STEP
    return at
