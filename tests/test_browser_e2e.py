"""The web chat and the agent console in headless Chromium (Playwright driving Debian's
/usr/bin/chromium; never a downloaded browser): a customer on a phone-sized screen gets an FAQ
answer, asks for a person and sees the queue position; an agent in a second browser context
signs in with a token, sees the ticket with transcript and reasons, claims it and replies; the
customer gets the reply across a network drop (once, not twice); the agent resolves; the
customer answers the CSAT question; the bot answers the next question. XSS attempts render as
text on both pages. Screenshots go under the test's tmp dir (and $SUPPORTBOT_E2E_SCREENSHOTS)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium "
                "(apt-get install chromium chromium-driver); the browser test needs it",
                allow_module_level=True)
pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")
sync_api = pytest.importorskip("playwright.sync_api",
                               reason="the Python playwright package is not installed")

from supportbot.handoff import Agent
from supportbot.server import ServerSettings, create_app
from supportbot.server.console.tokens import AgentTokens

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script><b>bold?</b>'
FAQ = "how much is delivery?"
TIMEOUT_MS = 15_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(bot):
    settings = ServerSettings(background_interval=0, rate_limit_per_minute=6000,
                              rate_limit_burst=1000, shutdown_timeout=5)
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(bot, settings), host="127.0.0.1", port=port,
                                        log_level="warning", timeout_graceful_shutdown=3))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture()
def shots(tmp_path):
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    target = os.environ.get("SUPPORTBOT_E2E_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for png in folder.glob("*.png"):
            shutil.copy(png, Path(target) / png.name)


def test_customer_and_agent_in_two_browsers(bot, server, shots):
    bot.queue.backend.upsert_agent(Agent(id="anna", name="Anna", languages=("en",),
                                         max_concurrent=2))
    token = AgentTokens(bot.queue.backend).issue("anna")
    expected_faq = bot.handle(f"probe-{uuid.uuid4().hex[:8]}", FAQ).texts[0]

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=["--no-sandbox", "--disable-background-networking",
                                          "--disable-dev-shm-usage"])
        try:
            phone = browser.new_context(viewport={"width": 390, "height": 760},
                                        device_scale_factor=2, is_mobile=True, has_touch=True,
                                        locale="en-US")
            desk = browser.new_context(viewport={"width": 1280, "height": 860})
            customer = phone.new_page()
            agent = desk.new_page()
            for page in (customer, agent):
                page.set_default_timeout(TIMEOUT_MS)
            run_flow(server, customer, agent, token, expected_faq, phone, shots)
        finally:
            browser.close()
    assert sorted(x.name for x in shots.glob("*.png")) == [
        "1-customer-queued.png", "2-agent-ticket.png", "3-customer-agent-reply.png",
        "4-agent-after-reply.png", "5-customer-csat-and-back-to-bot.png"]


def run_flow(base: str, customer, agent, token, expected_faq, phone_context, shots: Path) -> None:
    bot_msgs = customer.locator(".sb-msg.sb-bot")

    def say(text: str) -> None:
        customer.fill(".sb-input", text)
        customer.press(".sb-input", "Enter")

    # ---- the customer: FAQ answer on a phone-sized screen
    customer.goto(base + "/chat")
    customer.wait_for_selector(".sb-panel")
    assert customer.locator(".sb-send").inner_text() == "Send"   # the widget's own strings
    panel = customer.locator(".sb-panel").bounding_box()
    assert panel is not None and panel["width"] <= 390
    say(FAQ)
    sync_api.expect(bot_msgs.first).to_contain_text(expected_faq[:40])
    # ---- an XSS attempt is shown as text
    say(XSS)
    sync_api.expect(customer.locator(".sb-msg.sb-user:not(.sb-pending) .sb-text").last
                    ).to_have_text(XSS)
    # ---- asks for a person: queue position
    say("I want to talk to a real person")
    status = customer.locator(".sb-status")
    sync_api.expect(status).to_contain_text("you are number 1")
    customer.screenshot(path=str(shots / "1-customer-queued.png"))

    # ---- the agent: sign in, see the ticket with transcript and reasons, claim
    agent.goto(base + "/agent")
    agent.fill("#token", token)
    agent.click("#signin-form button[type=submit]")
    sync_api.expect(agent.locator("#me")).to_contain_text("Anna")
    item = agent.locator("#waiting li").first
    sync_api.expect(item).to_be_visible()
    sync_api.expect(item.locator(".reasons-line")).not_to_be_empty()
    sync_api.expect(item.locator(".lang")).to_have_text("en")
    sync_api.expect(item.locator(".sla")).to_contain_text("SLA")
    item.click()
    transcript = agent.locator("#t-transcript")
    sync_api.expect(transcript).to_contain_text(FAQ)
    sync_api.expect(transcript.locator(".tmsg .text", has_text="onerror")).to_have_text(XSS)
    sync_api.expect(agent.locator("#t-reasons .reason").first).to_be_visible()
    sync_api.expect(agent.locator("#t-summary")).not_to_be_empty()
    agent.click("#t-claim")
    sync_api.expect(agent.locator("#t-actions-mine")).to_be_visible()
    sync_api.expect(agent.locator("#t-claim")).to_be_hidden()
    sync_api.expect(agent.locator("#assigned li")).to_have_count(1)
    agent.screenshot(path=str(shots / "2-agent-ticket.png"), full_page=True)
    sync_api.expect(status).to_contain_text("You are talking to Anna")

    # ---- the agent replies while the customer's network is down: it arrives once
    phone_context.set_offline(True)
    customer.wait_for_timeout(500)
    reply = "Hi, I'm Anna. Your parcel left the warehouse today."
    agent.fill("#reply", reply)
    agent.click("#reply-form button[type=submit]")
    sync_api.expect(transcript.locator(".tmsg.agent")).to_contain_text(reply)
    customer.wait_for_timeout(1000)
    phone_context.set_offline(False)
    agent_msgs = customer.locator(".sb-msg.sb-agent")
    sync_api.expect(agent_msgs).to_have_count(1)
    sync_api.expect(agent_msgs.first).to_contain_text(reply)
    sync_api.expect(agent_msgs.first.locator(".sb-who")).to_have_text("Anna")
    customer.wait_for_timeout(1500)   # more reconnects must not repeat it
    assert agent_msgs.count() == 1
    seqs = customer.eval_on_selector_all(".sb-msg[data-seq]",
                                         "els => els.map(e => +e.dataset.seq)")
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs)
    customer.screenshot(path=str(shots / "3-customer-agent-reply.png"))
    agent.screenshot(path=str(shots / "4-agent-after-reply.png"), full_page=True)

    # ---- resolve; the customer answers the CSAT question; the bot is back
    agent.click("#t-resolve")
    sync_api.expect(agent.locator("#assigned li")).to_have_count(0)
    csat = customer.locator(".sb-msg.sb-bot .sb-buttons button:not([disabled])")
    sync_api.expect(csat).to_have_count(5)
    sync_api.expect(status).to_be_hidden()
    before = bot_msgs.count()
    csat.nth(4).click()
    sync_api.expect(bot_msgs).to_have_count(before + 1)   # thanks
    say(FAQ)
    sync_api.expect(bot_msgs).to_have_count(before + 2)
    # the same FAQ entry (the bot may word a repeated answer differently)
    sync_api.expect(bot_msgs.last).to_contain_text(re.compile(r"deliver", re.IGNORECASE))
    customer.screenshot(path=str(shots / "5-customer-csat-and-back-to-bot.png"))

    # ---- nothing customer-typed ever ran as HTML on either page
    for page in (customer, agent):
        assert page.evaluate("window.__xss") is None
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("b", has_text="bold?").count() == 0

