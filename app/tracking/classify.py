"""Is a hit a person reading, or a machine (privacy proxy, link scanner, prefetch)?

Uses the request's IP address and user agent in memory only; neither is ever stored. The
method is described in docs/engagement.md ("Machine events"). Each rule gives a short
reason code, stored in engagement_event.machine_reason; the first that matches wins.
"""

import ipaddress
import re
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import crawleruseragents

# Apple Mail Privacy Protection fetches every image through Apple's proxy, which sends
# exactly "Mozilla/5.0" and comes from Apple's network.
APPLE_NETWORK = ipaddress.ip_network("17.0.0.0/8")
APPLE_PROXY_AGENT = "Mozilla/5.0"
# Agents that say what they are; the crawler-user-agents list catches most others.
SCANNER_AGENTS = re.compile(
    r"Proofpoint|Mimecast|Barracuda|SafeLinks|Safe Links|FireEye|Trend ?Micro|Symantec"
    r"|Forcepoint|IronPort|Sophos|ZScaler|Cloudmark|SpamTitan|Vade",
    re.I,
)
# Image proxies of webmail services: they fetch once, on behalf of whoever opens.
PROXY_AGENTS = re.compile(r"GoogleImageProxy|ggpht\.com|YahooMailProxy", re.I)
# A burst: one reader following this many different links within BURST_SECONDS.
BURST_LINKS = 3
BURST_SECONDS = 2.0


@dataclass(frozen=True)
class Seen:
    method: str
    ip: str
    user_agent: str
    occurred_at: datetime


def machine_reason(seen: Seen, *, sent_at: datetime | None, after_delivery: timedelta) -> str:
    """The reason a single hit looks like a machine, or "" for a person."""
    if seen.method == "HEAD":
        return "head"
    agent = seen.user_agent.strip()
    if agent == APPLE_PROXY_AGENT or _in_apple_network(seen.ip):
        return "apple_mpp"
    reason = _agent_reason(agent)
    if reason:
        return reason
    if sent_at is not None and seen.occurred_at - sent_at < after_delivery:
        return "soon_after_delivery"
    return ""


@lru_cache(maxsize=4096)
def _agent_reason(agent: str) -> str:
    if not agent:
        return "no_user_agent"
    if PROXY_AGENTS.search(agent):
        return "image_proxy"
    if SCANNER_AGENTS.search(agent):
        return "scanner"
    if crawleruseragents.is_crawler(agent):
        return "bot"
    return ""


@lru_cache(maxsize=4096)
def _in_apple_network(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip) in APPLE_NETWORK
    except ValueError:
        return False


@dataclass
class BurstDetector:
    """Remembers each reader's recent clicks (in memory, for BURST_SECONDS) across batches.

    `click` answers the time span to flag when this click completes a burst: every click of
    that reader within the span is a machine's, including ones already written.
    """

    recent: dict[tuple, deque] = field(default_factory=dict)

    def click(self, reader: tuple, link_id: int, at: datetime) -> tuple[datetime, datetime] | None:
        window = timedelta(seconds=BURST_SECONDS)
        clicks = self.recent.setdefault(reader, deque())
        clicks.append((at, link_id))
        while clicks and at - clicks[0][0] > window:
            clicks.popleft()
        if len({link for _, link in clicks}) >= BURST_LINKS:
            return clicks[0][0], at
        return None

    def forget_before(self, cutoff: datetime) -> None:
        for reader in [r for r, c in self.recent.items() if not c or c[-1][0] < cutoff]:
            del self.recent[reader]
