"""Realistic, seed-deterministic demo fixtures for `livescore fixtures generate`."""

from bisect import bisect
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from random import Random
from typing import NamedTuple

from domain.fixtures import Fixture, FixtureStatus, Participant, Ref


class Sport(NamedTuple):
    ref: Ref
    # Relative share of the feed: football dominates a real feed, then basketball, tennis and ice hockey.
    weight: int
    # From start to final whistle, breaks included: past this a started fixture is over.
    duration: timedelta


class League(NamedTuple):
    sport: Sport
    ref: Ref
    location: Ref
    # Start times after midnight UTC; fixtures cluster on them the way real schedules do.
    kickoffs: tuple[timedelta, ...]
    # The same teams twice, once per position, built once so a fixture only picks two of them.
    home: tuple[Participant, ...]
    away: tuple[Participant, ...]


def _times(*hours: str) -> tuple[timedelta, ...]:
    return tuple(timedelta(hours=int(hour[:2]), minutes=int(hour[3:])) for hour in hours)


def _clubs(places: str, patterns: str) -> tuple[str, ...]:
    """One club per place, named by the "|"-separated patterns in turn ("Real {}|{} CF" …)."""
    styles = patterns.split("|")
    return tuple(styles[i % len(styles)].format(place) for i, place in enumerate(places.split(", ")))


def _paired(firsts: str, seconds: str) -> tuple[str, ...]:
    """City + nickname for US-style teams, first + last name for players."""
    return tuple(
        f"{first} {second}" for first, second in zip(firsts.split(", "), seconds.split(", "), strict=True)
    )


def _sport(sport_id: int, name: str, weight: int, minutes: int) -> Sport:
    return Sport(Ref(sport_id, name), weight, timedelta(minutes=minutes))


def _league(
    sport: Sport,
    league_id: int,
    name: str,
    location: Ref,
    kickoffs: tuple[timedelta, ...],
    teams: tuple[str, ...],
) -> League:
    # A team's id depends only on its league and its place in the list: stable across runs and seeds.
    ids = [league_id * 1000 + index + 1 for index in range(len(teams))]
    return League(
        sport,
        Ref(league_id, name),
        location,
        kickoffs,
        tuple(Participant(id=i, name=team, position=1) for i, team in zip(ids, teams, strict=True)),
        tuple(Participant(id=i, name=team, position=2) for i, team in zip(ids, teams, strict=True)),
    )


# LSports sport ids, so demo data looks like the real feed; durations include breaks and overtime.
FOOTBALL = _sport(6046, "Football", 45, 115)
BASKETBALL = _sport(48242, "Basketball", 20, 135)
TENNIS = _sport(54094, "Tennis", 14, 150)
ICE_HOCKEY = _sport(35232, "Ice Hockey", 10, 150)
BASEBALL = _sport(154914, "Baseball", 4, 180)
VOLLEYBALL = _sport(154830, "Volleyball", 3, 120)
AMERICAN_FOOTBALL = _sport(131506, "American Football", 2, 195)
HANDBALL = _sport(35709, "Handball", 2, 90)

# Countries carry their ISO 3166-1 numeric code (stable and documented); regions that are not
# countries get ids above 1000, which no ISO code uses.
ENGLAND, SPAIN, ITALY = Ref(1001, "England"), Ref(724, "Spain"), Ref(380, "Italy")
GERMANY, FRANCE, NETHERLANDS = Ref(276, "Germany"), Ref(250, "France"), Ref(528, "Netherlands")
USA, RUSSIA, SWEDEN = Ref(840, "USA"), Ref(643, "Russia"), Ref(752, "Sweden")
BRAZIL, JAPAN, POLAND = Ref(76, "Brazil"), Ref(392, "Japan"), Ref(616, "Poland")
EUROPE, INTERNATIONAL = Ref(1002, "Europe"), Ref(1003, "International")

# Kick-offs in UTC: European weekend football at 12:30/15:00/17:30/20:00 plus midweek evenings;
# American leagues play in the US evening, which is after midnight UTC.
EUROPEAN_FOOTBALL = _times("12:30", "14:00", "15:00", "16:15", "17:30", "18:45", "19:00", "20:00")
SOUTH_AMERICAN_FOOTBALL = _times("19:00", "21:30", "22:00", "23:00", "00:30")
EUROPEAN_EVENINGS = _times("16:00", "17:00", "17:30", "18:00", "18:45", "19:00", "19:45")
US_EVENINGS = _times("23:00", "23:30", "00:00", "00:30", "01:00", "02:00", "02:30", "03:00")
US_BASEBALL = _times("17:00", "18:15", "23:00", "23:15", "23:45", "00:00", "01:00", "02:15")
US_SUNDAYS = _times("17:00", "18:00", "21:15", "21:30", "00:15", "01:15")
RUSSIAN_EVENINGS = _times("09:00", "14:00", "16:00", "16:30", "17:00")
JAPANESE_EVENINGS = _times("05:00", "09:00", "09:30", "10:00")
TENNIS_DAY = _times("09:00", "10:00", "11:00", "11:30", "13:00", "14:30", "16:00", "17:30", "18:00", "19:00")

# Teams: each country's places with its usual club-name patterns, or US-style city + nickname, or
# players' first + last names; all invented from common parts, none meant as a real club or person.
ENGLISH_CLUBS = _clubs(
    "London, Manchester, Liverpool, Birmingham, Leeds, Newcastle, Sheffield, Bristol, Nottingham, "
    "Leicester, Southampton, Brighton, Norwich, Sunderland, Coventry, Ipswich, Burnley, Bournemouth, "
    "Wolverhampton, Reading",
    "{} United|{} City|{} FC|{} Athletic|{} Rovers|{} Town|{} Wanderers|{} Albion",
)
SPANISH_CLUBS = _clubs(
    "Madrid, Barcelona, Valencia, Sevilla, Bilbao, Vigo, Málaga, Zaragoza, Granada, Cádiz, Almería, Getafe, "
    "Girona, Pamplona, Valladolid, Oviedo, Gijón, Vitoria, Elche, Mallorca",
    "Real {}|{} CF|Atlético {}|CD {}|UD {}|SD {}|Deportivo {}|RCD {}",
)
ITALIAN_CLUBS = _clubs(
    "Milano, Roma, Torino, Napoli, Genova, Firenze, Bologna, Verona, Bergamo, Udine, Lecce, Cagliari, Parma, "
    "Empoli, Como, Venezia, Monza, Sassuolo, Salerno, Cremona",
    "AC {}|{} Calcio|US {}|FC {}|AS {}|SS {}|{} FC",
)
GERMAN_CLUBS = _clubs(
    "München, Dortmund, Berlin, Hamburg, Köln, Frankfurt, Stuttgart, Bremen, Leipzig, Freiburg, Mainz, "
    "Augsburg, Wolfsburg, Bochum, Hannover, Nürnberg, Kiel, Darmstadt",
    "FC {}|{} SV|VfB {}|1. FC {}|TSV {}|SC {}|VfL {}|Borussia {}|Eintracht {}",
)
FRENCH_CLUBS = _clubs(
    "Paris, Marseille, Lyon, Lille, Nice, Rennes, Nantes, Bordeaux, Toulouse, Montpellier, Strasbourg, "
    "Reims, Lens, Brest, Lorient, Metz, Angers, Auxerre",
    "{} FC|Olympique {}|AS {}|Stade {}|RC {}|FC {}|{} SC",
)
DUTCH_CLUBS = _clubs(
    "Amsterdam, Rotterdam, Eindhoven, Utrecht, Groningen, Alkmaar, Enschede, Arnhem, Heerenveen, Nijmegen, "
    "Tilburg, Zwolle, Breda, Almelo, Sittard, Waalwijk, Deventer, Leeuwarden",
    "FC {}|{} SC|SV {}|Sparta {}|{} FC|Go Ahead {}",
)
BRAZILIAN_CLUBS = _clubs(
    "São Paulo, Rio de Janeiro, Belo Horizonte, Porto Alegre, Salvador, Recife, Fortaleza, Curitiba, "
    "Goiânia, Santos, Campinas, Florianópolis, Belém, Cuiabá, Natal, Manaus",
    "{} FC|EC {}|SC {}|Atlético {}|Grêmio {}|América {}|CR {}",
)
NBA_TEAMS = _paired(
    "Atlanta, Boston, Chicago, Dallas, Denver, Detroit, Houston, Las Vegas, Memphis, Miami, Milwaukee, "
    "Orlando, Philadelphia, Phoenix, Portland, Sacramento, San Diego, Seattle, St. Louis, Charlotte",
    "Comets, Flyers, Monarchs, Outlaws, Vipers, Cyclones, Stallions, Aces, Blaze, Hurricanes, Titans, "
    "Express, Dragons, Pioneers, Royals, Skyhawks, Thunderbolts, Pilots, Knights, Spirits",
)
EUROLEAGUE_CLUBS = _clubs(
    "Madrid, Barcelona, Istanbul, Athens, Piraeus, Belgrade, Milano, Kaunas, Tel Aviv, München, Vitoria, "
    "Monaco, Berlin, Paris, Valencia, Bologna, Lyon, Zagreb",
    "{} BC|BC {}|{} Basket|KK {}|Pallacanestro {}|{} Basketball",
)
ACB_CLUBS = _clubs(
    "Badalona, Murcia, Tenerife, Manresa, Málaga, Zaragoza, Bilbao, Andorra, Granada, Burgos, Girona, "
    "Lleida, Gran Canaria, Palencia, Lugo, Valladolid",
    "CB {}|{} Basket|Club Baloncesto {}|Bàsquet {}",
)
ATP_PLAYERS = _paired(
    "Carlos, Jannik, Daniil, Alexander, Novak, Andrey, Casper, Holger, Stefanos, Taylor, Hubert, Grigor, "
    "Tommy, Ben, Felix, Lorenzo, Karen, Frances, Alex, Sebastian, Ugo, Nicolás, Jack, Arthur",
    "Almeida, Bergström, Castellano, Dvořák, Eriksen, Fontaine, García, Hofmann, Ivanov, Jansen, Kowalski, "
    "Laurent, Marchetti, Nakamura, Olsen, Petrov, Quintero, Rossi, Schneider, Tanaka, Urban, Varga, Weber, "
    "Zhang",
)
WTA_PLAYERS = _paired(
    "Aryna, Iga, Coco, Elena, Jessica, Qinwen, Jasmine, Mirra, Emma, Daria, Karolína, Madison, Paula, "
    "Beatriz, Anna, Sofia, Marta, Lucia, Clara, Leylah, Elise, Ons, Maria, Victoria",
    "Andersson, Bianchi, Costa, Dubois, Esposito, Fischer, Horvat, Ilić, Jovanović, Keller, Lopes, Martin, "
    "Nowak, Ortega, Popescu, Romero, Santos, Tóth, Vasquez, Wagner, Yilmaz, Zimmermann, Moreau, Novotná",
)
NHL_TEAMS = _paired(
    "Boston, Buffalo, Calgary, Chicago, Columbus, Detroit, Edmonton, Hartford, Minneapolis, Montréal, "
    "Nashville, Ottawa, Pittsburgh, Québec City, Toronto, Vancouver, Winnipeg, Denver",
    "Blizzard, Huskies, Lumberjacks, Icemen, Wolves, Grizzlies, Frost, Storm, Moose, Glaciers, Summit, "
    "Northmen, Voyageurs, Bison, Rapids, Sabres, Polar Bears, Ravens",
)
KHL_CLUBS = _clubs(
    "Moskva, Sankt-Peterburg, Kazan, Ufa, Omsk, Yaroslavl, Magnitogorsk, Chelyabinsk, Nizhny Novgorod, "
    "Novosibirsk, Yekaterinburg, Khabarovsk, Sochi, Togliatti",
    "Dinamo {}|Torpedo {}|Lokomotiv {}|Metallurg {}|Avangard {}|Sibir {}|Traktor {}",
)
SHL_CLUBS = _clubs(
    "Stockholm, Göteborg, Malmö, Luleå, Växjö, Skellefteå, Linköping, Örebro, Jönköping, Karlstad, Leksand, "
    "Timrå, Gävle, Oskarshamn",
    "{} HC|{} IF|{} IK|HV {}|{} Hockey",
)
MLB_TEAMS = _paired(
    "Atlanta, Baltimore, Boston, Chicago, Cincinnati, Cleveland, Denver, Kansas City, Los Angeles, Miami, "
    "Milwaukee, New York, Oakland, Philadelphia, Pittsburgh, San Diego, San Francisco, Seattle, St. Louis, "
    "Tampa",
    "Aviators, Barons, Clippers, Generals, Hornets, Mariners, Miners, Owls, Patriots, Pilots, Rebels, "
    "Redbirds, River Dogs, Senators, Sluggers, Sea Lions, Travelers, Colts, Bluebirds, Cannons",
)
NPB_TEAMS = _paired(
    "Tokyo, Osaka, Yokohama, Nagoya, Hiroshima, Fukuoka, Sapporo, Sendai, Chiba, Saitama, Kobe, Kyoto",
    "Samurai, Dragons, Hawks, Tigers, Swallows, Carp, Fighters, Eagles, Marines, Lions, Buffaloes, Phoenix",
)
SUPERLEGA_CLUBS = _clubs(
    "Trento, Perugia, Modena, Civitanova, Piacenza, Monza, Verona, Milano, Padova, Cisterna, Taranto, "
    "Grottazzolina",
    "{} Volley|Volley {}|Pallavolo {}",
)
PLUSLIGA_CLUBS = _clubs(
    "Rzeszów, Kędzierzyn-Koźle, Zawiercie, Jastrzębie, Warszawa, Lublin, Gdańsk, Olsztyn, Bełchatów, "
    "Katowice, Częstochowa, Bydgoszcz",
    "{} Volley|AZS {}|KS {}|Projekt {}",
)
NFL_TEAMS = _paired(
    "Austin, Baltimore, Charlotte, Cleveland, Dallas, Denver, Indianapolis, Jacksonville, Kansas City, "
    "Las Vegas, Nashville, New Orleans, Oakland, Orlando, Phoenix, Salt Lake City, San Antonio, Seattle, "
    "St. Louis, Portland",
    "Armada, Bandits, Blitz, Bulldogs, Cavalry, Defenders, Gladiators, Guardians, Hammers, Invaders, "
    "Marauders, Mustangs, Outlaws, Renegades, Roughriders, Sentinels, Stampede, Thunder, Warriors, Wranglers",
)
HBL_CLUBS = _clubs(
    "Kiel, Flensburg, Magdeburg, Berlin, Hannover, Melsungen, Lemgo, Göppingen, Wetzlar, Erlangen, "
    "Stuttgart, Leipzig, Gummersbach, Minden",
    "THW {}|SG {}|SC {}|Füchse {}|TSV {}|HC {}|TBV {}",
)
EHF_CLUBS = _clubs(
    "Barcelona, Veszprém, Kielce, Paris, Szeged, Aalborg, Porto, Zagreb, Celje, Bucureşti, Skopje, "
    "Montpellier, Nantes, Kolding",
    "{} Handball|HC {}|RK {}|{} HB|FC {}",
)

# Leagues get ids of our own, grouped by sport (1001 = Premier League, as in SPEC §4's example).
LEAGUES = (
    _league(FOOTBALL, 1001, "Premier League", ENGLAND, EUROPEAN_FOOTBALL, ENGLISH_CLUBS),
    _league(FOOTBALL, 1002, "LaLiga", SPAIN, EUROPEAN_FOOTBALL, SPANISH_CLUBS),
    _league(FOOTBALL, 1003, "Serie A", ITALY, EUROPEAN_FOOTBALL, ITALIAN_CLUBS),
    _league(FOOTBALL, 1004, "Bundesliga", GERMANY, EUROPEAN_FOOTBALL, GERMAN_CLUBS),
    _league(FOOTBALL, 1005, "Ligue 1", FRANCE, EUROPEAN_FOOTBALL, FRENCH_CLUBS),
    _league(FOOTBALL, 1006, "Eredivisie", NETHERLANDS, EUROPEAN_FOOTBALL, DUTCH_CLUBS),
    _league(FOOTBALL, 1007, "Brasileirão Série A", BRAZIL, SOUTH_AMERICAN_FOOTBALL, BRAZILIAN_CLUBS),
    _league(BASKETBALL, 2001, "NBA", USA, US_EVENINGS, NBA_TEAMS),
    _league(BASKETBALL, 2002, "EuroLeague", EUROPE, EUROPEAN_EVENINGS, EUROLEAGUE_CLUBS),
    _league(BASKETBALL, 2003, "Liga ACB", SPAIN, EUROPEAN_EVENINGS, ACB_CLUBS),
    _league(TENNIS, 3001, "ATP Tour", INTERNATIONAL, TENNIS_DAY, ATP_PLAYERS),
    _league(TENNIS, 3002, "WTA Tour", INTERNATIONAL, TENNIS_DAY, WTA_PLAYERS),
    _league(ICE_HOCKEY, 4001, "NHL", USA, US_EVENINGS, NHL_TEAMS),
    _league(ICE_HOCKEY, 4002, "KHL", RUSSIA, RUSSIAN_EVENINGS, KHL_CLUBS),
    _league(ICE_HOCKEY, 4003, "SHL", SWEDEN, EUROPEAN_EVENINGS, SHL_CLUBS),
    _league(BASEBALL, 5001, "MLB", USA, US_BASEBALL, MLB_TEAMS),
    _league(BASEBALL, 5002, "NPB", JAPAN, JAPANESE_EVENINGS, NPB_TEAMS),
    _league(VOLLEYBALL, 6001, "SuperLega", ITALY, EUROPEAN_EVENINGS, SUPERLEGA_CLUBS),
    _league(VOLLEYBALL, 6002, "PlusLiga", POLAND, EUROPEAN_EVENINGS, PLUSLIGA_CLUBS),
    _league(AMERICAN_FOOTBALL, 7001, "NFL", USA, US_SUNDAYS, NFL_TEAMS),
    _league(HANDBALL, 8001, "Handball-Bundesliga", GERMANY, EUROPEAN_EVENINGS, HBL_CLUBS),
    _league(HANDBALL, 8002, "EHF Champions League", EUROPE, EUROPEAN_EVENINGS, EHF_CLUBS),
)


def _league_weights() -> list[float]:
    """Cumulative draw weights: a sport's share split evenly over its leagues."""
    leagues_per_sport: dict[Sport, int] = {}
    for league in LEAGUES:
        leagues_per_sport[league.sport] = leagues_per_sport.get(league.sport, 0) + 1
    return list(accumulate(league.sport.weight / leagues_per_sport[league.sport] for league in LEAGUES))


_CUMULATIVE_WEIGHTS = _league_weights()
_TOTAL_WEIGHT = _CUMULATIVE_WEIGHTS[-1]

# A feed carries about two weeks of results and a month of schedule.
_PAST_DAYS, _FUTURE_DAYS = 14, 30
# Weekends carry most of the fixtures (Monday first, as in datetime.weekday()).
_WEEKDAY_WEIGHTS = (0.8, 1.0, 1.1, 0.9, 1.3, 2.4, 2.0)
# Share of fixtures placed around now, so any snapshot shows live games and some about to start.
_LIVE_SHARE = 0.06
_QUARTER = timedelta(minutes=15)
# The live board: quarter hours from 2h45 ago to 45 minutes ahead of now.
_LIVE_QUARTERS = range(-11, 4)
# SPEC §4: status 9 means "about to start"; the feed switches to it this long before the start.
_ABOUT_TO_START = timedelta(minutes=30)
_ZERO = timedelta()

# (cumulative probability, status): the few fixtures that do not go to plan.
_AHEAD = ((0.98, FixtureStatus.NOT_STARTED), (1.0, FixtureStatus.POSTPONED))
_LIVE = (
    (0.93, FixtureStatus.IN_PROGRESS),
    (0.97, FixtureStatus.INTERRUPTED),
    (1.0, FixtureStatus.COVERAGE_LOST),
)
_OVER = (
    (0.94, FixtureStatus.FINISHED),
    (0.96, FixtureStatus.CANCELLED),
    (0.985, FixtureStatus.POSTPONED),
    (1.0, FixtureStatus.ABANDONED),
)
_STOPPED_DURING_PLAY = (FixtureStatus.INTERRUPTED, FixtureStatus.COVERAGE_LOST, FixtureStatus.ABANDONED)

# Fixture ids start here, plus a seed-dependent offset, so demo ids look like feed ids and stay in int32.
_FIRST_FIXTURE_ID = 10_000_000
_FIXTURE_ID_OFFSETS = 90_000_000
# The results are settled up to half an hour after the final whistle.
_SETTLING_SECONDS = 1800
# The feed touches a live fixture every few minutes, an upcoming one some time in the last three days.
_LIVE_TOUCH_SECONDS = 300
_SCHEDULE_TOUCH_SECONDS = (300, 3 * 86_400)


def generate(count: int, seed: int, now: datetime | None = None) -> Iterator[Fixture]:
    """`count` fixtures around `now` (default: this hour, UTC); the same arguments give the same fixtures."""
    if count < 0:
        raise ValueError(f"count must not be negative, not {count}")
    if now is None:
        now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    elif now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _fixtures(count, Random(seed), now.astimezone(UTC))


class _Calendar:
    """Where fixtures start: weighted days around now at the league's kick-offs, or on the live board."""

    def __init__(self, now: datetime) -> None:
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self.days = [today + timedelta(days=day) for day in range(-_PAST_DAYS, _FUTURE_DAYS + 1)]
        self.weights = list(accumulate(_WEEKDAY_WEIGHTS[day.weekday()] for day in self.days))
        self.board = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)

    def start(self, rng: Random, league: League) -> datetime:
        if rng.random() < _LIVE_SHARE:
            return self.board + _QUARTER * rng.choice(_LIVE_QUARTERS)
        day = self.days[bisect(self.weights, rng.random() * self.weights[-1])]
        return day + league.kickoffs[int(rng.random() * len(league.kickoffs))]


def _fixtures(count: int, rng: Random, now: datetime) -> Iterator[Fixture]:
    calendar = _Calendar(now)
    first_id = _FIRST_FIXTURE_ID + rng.randrange(_FIXTURE_ID_OFFSETS)
    for fixture_id in range(first_id, first_id + count):
        yield _fixture(rng, fixture_id, calendar, now)


def _fixture(rng: Random, fixture_id: int, calendar: _Calendar, now: datetime) -> Fixture:
    league = LEAGUES[bisect(_CUMULATIVE_WEIGHTS, rng.random() * _TOTAL_WEIGHT)]
    home = int(rng.random() * len(league.home))
    away = int(rng.random() * (len(league.away) - 1))
    away += away >= home  # any team but the home team
    start = calendar.start(rng, league)
    status = _status(rng, start - now, league.sport.duration)
    return Fixture(
        fixture_id=fixture_id,
        status=status,
        start_date=start,
        sport=league.sport.ref,
        league=league.ref,
        location=league.location,
        participants=[league.home[home], league.away[away]],
        last_update=_last_update(rng, status, start, now, league.sport.duration),
    )


def _status(rng: Random, lead: timedelta, duration: timedelta) -> FixtureStatus:
    """What the feed says of a fixture starting `lead` from now."""
    if lead > _ABOUT_TO_START:
        return _draw(rng, _AHEAD)
    if lead > _ZERO:
        return FixtureStatus.ABOUT_TO_START
    if -lead < duration:
        return _draw(rng, _LIVE)
    return _draw(rng, _OVER)


def _draw(rng: Random, odds: tuple[tuple[float, FixtureStatus], ...]) -> FixtureStatus:
    chance = rng.random()
    for limit, status in odds:
        if chance < limit:
            return status
    return odds[-1][1]


def _last_update(
    rng: Random, status: FixtureStatus, start: datetime, now: datetime, duration: timedelta
) -> datetime:
    """When the feed last touched the fixture: never after now."""
    if status == FixtureStatus.FINISHED:
        moment = start + duration + timedelta(seconds=int(rng.random() * _SETTLING_SECONDS))
    elif status in _STOPPED_DURING_PLAY:
        moment = start + timedelta(seconds=int(rng.random() * min(duration, now - start).total_seconds()))
    elif status == FixtureStatus.IN_PROGRESS:
        moment = max(start, now - timedelta(seconds=int(rng.random() * _LIVE_TOUCH_SECONDS)))
    else:
        moment = min(start, now) - timedelta(seconds=rng.randint(*_SCHEDULE_TOUCH_SECONDS))
    return min(moment, now)
