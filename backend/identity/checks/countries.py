"""Country codes KYC accepts: ISO 3166-1 alpha-3 for the address's country, and for nationality
also the codes ICAO 9303 (part 3) writes in passports of people with no ISO nationality.

The list is the 249 codes of Debian's iso-codes 4.15 (`/usr/share/iso-codes/json/iso_3166-1.json`),
copied as a constant rather than a dependency (pycountry ships the same file): it changes a few times
a decade. Any three letters were accepted before, and a nationality no check digit covers was a free
variable of the passport's blind index (security review M1); the index no longer depends on it, and
an invented code is now refused anyway."""

from __future__ import annotations

ISO_3166_ALPHA3 = frozenset("""
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE BDI BEL BEN BES BFA BGD BGR
    BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA CAF CAN CCK CHE CHL CHN CIV CMR COD COG
    COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE DEU DJI DMA DNK DOM DZA ECU EGY ERI ESH ESP EST ETH
    FIN FJI FLK FRA FRO FSM GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY
    HKG HMD HND HRV HTI HUN IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA JAM JEY JOR JPN KAZ KEN KGZ KHM
    KIR KNA KOR KWT LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA MAC MAF MAR MCO MDA MDG MDV MEX MHL
    MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI MYS MYT NAM NCL NER NFK NGA NIC NIU NLD NOR
    NPL NRU NZL OMN PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY PSE PYF QAT REU ROU RUS RWA SAU
    SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM SYC SYR TCA
    TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA UGA UKR UMI URY USA UZB VAT VCT VEN VGB
    VIR VNM VUT WLF WSM YEM ZAF ZMB ZWE
""".split())

ICAO_ONLY_NATIONALITIES = frozenset({
    "GBD", "GBN", "GBO", "GBP", "GBS",  # British overseas territories citizen, national (overseas), ...
    "UNO", "UNA", "UNK",  # United Nations official, specialized agency, Kosovo resident under UNMIK
    "EUE",  # European Union official
    "XXA", "XXB", "XXC", "XXX",  # stateless; refugee (1951 convention); refugee (other); unspecified
    "RKS",  # Kosovo: its passports' code, with no ISO 3166-1 entry
    "XOM", "XPO", "XCC", "XES", "XBA", "XIM", "XCE", "XCO", "XDC", "XEC",  # ICAO-listed organisations' documents
})
NATIONALITIES = ISO_3166_ALPHA3 | ICAO_ONLY_NATIONALITIES
ICAO_SHORT_CODES = {"D": "DEU"}  # Germany's passports write D<< where ISO has DEU
