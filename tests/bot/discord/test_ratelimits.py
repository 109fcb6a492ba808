"""Discord's rate limits as the stand-in models them: bursts of posts and threads all go through, and the
bot's pace keeps a burst under the global limit instead of learning it from 429s."""

from __future__ import annotations

import asyncio
from collections import Counter

from bot.chat import texts
from bot.chat.surface import Place
from bot.discord.component import DiscordComponent
from bot.discord.surface import DiscordSurface
from tests.bot.discord.ratelimits import RateLimits, RouteLimit
from tests.bot.discord.standin import CHANNEL_ID, DiscordStandIn

FIRST_CHANNEL = 930000000000000000


def test_the_model_answers_with_headers_and_refuses_past_the_limits() -> None:
    limits = RateLimits([RouteLimit("POST", r"/channels/(\d+)/threads", 2, 60.0)], global_per_second=4)
    first, second = (limits.check("POST", "/channels/1111111/threads") for _ in range(2))
    assert (first.refused, first.headers["X-RateLimit-Remaining"]) == (None, "1")
    assert (second.refused, second.headers["X-RateLimit-Remaining"]) == (None, "0")
    third = limits.check("POST", "/channels/1111111/threads")
    assert third.refused is not None and third.refused["global"] is False
    assert float(third.headers["Retry-After"]) > 0 and third.headers["X-RateLimit-Scope"] == "user"
    other_channel = limits.check("POST", "/channels/2222222/threads")  # its own bucket: the 4th this second
    assert other_channel.refused is None
    overall = limits.check("POST", "/channels/3333333/messages")  # the 5th request this second
    assert overall.refused is not None and overall.refused["global"] is True
    answer = limits.check("POST", "/interactions/4444444/tok-5555555/callback")  # exempt from the global
    assert answer.refused is None
    assert limits.refusals == 2


async def burst(surface: DiscordSurface, count: int) -> list[Place]:
    places = [Place(str(FIRST_CHANNEL + n)) for n in range(count)]
    await asyncio.gather(*(surface.post(p, texts.refusal(f"post {n}")) for n, p in enumerate(places)))
    return places


def posted_once(api: DiscordStandIn, places: list[Place]) -> bool:
    posts = Counter(c.path for c in api.find("POST", r"/channels/\d+/messages"))
    return all(posts[f"/channels/{p.channel_id}/messages"] == 1 for p in places)


async def test_a_burst_of_posts_is_paced_under_the_global_limit_without_a_429(
    bot: DiscordComponent, discord_api: DiscordStandIn
) -> None:
    discord_api.ratelimits = RateLimits(global_per_second=5)
    bot.bot.pace.interval = 1 / 2.5  # half the stand-in's limit: arrival jitter cannot crowd a second
    places = await burst(bot.bot.surface, 8)
    assert posted_once(discord_api, places)
    assert discord_api.ratelimits.refusals == 0


async def test_unpaced_the_same_burst_meets_429s_and_discord_py_retries_them(
    bot: DiscordComponent, discord_api: DiscordStandIn
) -> None:
    discord_api.ratelimits = RateLimits(global_per_second=5)
    bot.bot.pace.interval = 0.0
    places = await burst(bot.bot.surface, 20)
    assert posted_once(discord_api, places)
    assert discord_api.ratelimits.refusals > 0


async def test_threads_created_at_once_all_open_within_the_channels_bucket(
    bot: DiscordComponent, discord_api: DiscordStandIn
) -> None:
    """discord.py reads the modelled bucket's headers and waits its turn: each thread created once."""
    thread_route = RouteLimit("POST", r"/channels/(\d+)/threads", 2, 0.5)
    discord_api.ratelimits = RateLimits([thread_route], global_per_second=None)
    http = bot.bot.http
    created = await asyncio.gather(
        *(
            http.start_thread_without_message(
                CHANNEL_ID, name=f"conversation {n}", auto_archive_duration=60, type=12
            )
            for n in range(5)
        )
    )
    threads = sorted(str(data["id"]) for data in created)
    assert len(set(threads)) == 5
    posts = discord_api.find("POST", rf"/channels/{CHANNEL_ID}/threads")
    assert sorted(str(c.response["id"]) for c in posts) == threads  # each created once
    assert all(discord_api.channels[int(t)]["parent_id"] == str(CHANNEL_ID) for t in threads)
