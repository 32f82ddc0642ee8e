"""The Python client generated from Cairn's OpenAPI, used the way an ISV would use it.

`cargo xtask clients` generates `cairn_client` with openapi-python-client from a live
`cairn up`'s /openapi.json, installs it, and runs `python smoke.py <base-url>`. Every call
goes through the generated functions and models, except the marketplace's own webhook: a
shop's trades reach Cairn signed by Bazaar, not through an API client. Exits 1 at the first
answer that is not what it should be.
"""

import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.request
from typing import Any, TypeVar

from cairn_client import AuthenticatedClient, Client
from cairn_client.api.channels import post_v1_channels
from cairn_client.api.identity import post_v1_signup
from cairn_client.api.inventory import (
    get_v1_stock_sku_code,
    post_v1_reservations,
    post_v1_skus,
    post_v1_stock_adjustments,
)
from cairn_client.api.orders import get_v1_orders, get_v1_orders_id
from cairn_client.models import (
    ChannelDto,
    NewAdjustment,
    NewChannelNewBazaarChannel,
    NewChannelNewBazaarChannelMarketplace,
    NewReservation,
    NewSku,
    OrderDto,
    OrderPage,
    ReservationDto,
    ReserveLineDto,
    SignupRequest,
    SignupResponse,
    SkuDto,
    StockDto,
)
from cairn_client.types import Response

T = TypeVar("T")

SKU = "SMOKE-TEE-M"
RECEIVED = 100
RESERVED_DIRECTLY = 3
ORDERED = 2
TID = "T-SMOKE-0001"


class Mismatch(Exception):
    pass


def parsed(what: str, response: Response[Any], status: int, model: type[T]) -> T:
    """The answer's typed body, once its status and type are the expected ones."""
    if response.status_code != status or not isinstance(response.parsed, model):
        raise Mismatch(f"{what}: answered {int(response.status_code)}, not {status}: {response.content!r}")
    return response.parsed


def check(what: str, got: object, want: object) -> None:
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")


def stock_is(client: AuthenticatedClient, what: str, on_hand: int, reserved: int) -> StockDto:
    stock = parsed(what, get_v1_stock_sku_code.sync_detailed(SKU, client=client), 200, StockDto)
    check(f"{what}: on_hand", stock.on_hand, on_hand)
    check(f"{what}: reserved", stock.reserved, reserved)
    check(f"{what}: available", stock.available, on_hand - reserved)
    return stock


def push_paid_trade(channel: ChannelDto, quantity: int) -> None:
    """What Bazaar sends when a buyer pays: a JSON trade, HMAC-signed over its exact bytes."""
    body = json.dumps(
        {
            "topic": "trade.TradeBuyerPay",
            "shop_id": channel.shop_id,
            "trade": {
                "tid": TID,
                "status": "WAIT_SELLER_SEND_GOODS",
                "created": "2026-11-11T00:00:00.120+08:00",
                "pay_time": "2026-11-11T00:00:03.005+08:00",
                "modified": "2026-11-11T00:00:03.005+08:00",
                "buyer_nick": "买家小王",
                "currency": "CNY",
                "payment": "418.00",
                "orders": [
                    {
                        "oid": "O1",
                        "outer_sku_id": SKU,
                        "title": "纯棉T恤 红色 M",
                        "num": quantity,
                        "price": "209.00",
                        "payment": "418.00",
                        "refund_status": "NO_REFUND",
                    }
                ],
            },
        },
        ensure_ascii=False,
    ).encode()
    secret = channel.webhook_secret
    if not isinstance(secret, str):
        raise Mismatch("the new Bazaar channel has no webhook_secret")
    timestamp = str(int(time.time()))
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    request = urllib.request.Request(
        channel.webhook_url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Bazaar-Topic": "trade.TradeBuyerPay",
            "X-Bazaar-Message-Id": "smoke-msg-1",
            "X-Bazaar-Timestamp": timestamp,
            "X-Bazaar-Signature": base64.b64encode(mac.digest()).decode(),
            "X-Bazaar-Shop-Id": channel.shop_id,
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        check("the signed webhook's status", answer.status, 200)


def order_when_allocated(client: AuthenticatedClient) -> OrderDto:
    """The order the trade became, once inventory has reserved its line (that runs on the bus)."""
    deadline = time.monotonic() + 30
    while True:
        page = parsed(
            "GET /v1/orders?external_id", get_v1_orders.sync_detailed(client=client, external_id=TID), 200, OrderPage
        )
        if page.items and page.items[0].lines and page.items[0].lines[0].reservation_state:
            return page.items[0]
        if time.monotonic() > deadline:
            raise Mismatch(f"trade {TID} did not become an order with a reserved line within 30 s: {page.to_dict()}")
        time.sleep(0.2)


def smoke(base_url: str) -> None:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    signup = parsed(
        "POST /v1/signup",
        post_v1_signup.sync_detailed(
            client=anonymous,
            body=SignupRequest(tenant_name="云栈服饰 (Python)", email="py@example.com", password="correct horse battery"),
        ),
        201,
        SignupResponse,
    )
    print(f"signed up tenant {signup.tenant_id}")
    client = AuthenticatedClient(base_url=base_url, token=signup.access_token, raise_on_unexpected_status=True)

    sku = parsed(
        "POST /v1/skus",
        post_v1_skus.sync_detailed(client=client, body=NewSku(code=SKU, name="纯棉T恤 红色 M")),
        201,
        SkuDto,
    )
    check("the new SKU's code", sku.code, SKU)

    adjustment = NewAdjustment(sku_code=SKU, delta=RECEIVED, reason="initial count")
    for attempt in ("POST /v1/stock/adjustments", "the same adjustment retried with its Idempotency-Key"):
        stock = parsed(
            attempt,
            post_v1_stock_adjustments.sync_detailed(client=client, body=adjustment, idempotency_key="smoke-delivery-1"),
            201,
            StockDto,
        )
        check(f"{attempt}: on_hand", stock.on_hand, RECEIVED)
    print(f"created SKU {SKU} and received {RECEIVED} (once, though sent twice)")

    reservation = parsed(
        "POST /v1/reservations",
        post_v1_reservations.sync_detailed(
            client=client,
            body=NewReservation(reference="PO-77", lines=[ReserveLineDto(sku_code=SKU, quantity=RESERVED_DIRECTLY)]),
            idempotency_key="smoke-po-77",
        ),
        201,
        ReservationDto,
    )
    check("the reservation's state", reservation.state, "held")
    check("the reservation's lines", [(line.sku_code, line.quantity) for line in reservation.lines], [(SKU, 3)])
    stock_is(client, "stock after the reservation", RECEIVED, RESERVED_DIRECTLY)
    print(f"reserved {RESERVED_DIRECTLY}: reservation {reservation.id}")

    channel = parsed(
        "POST /v1/channels",
        post_v1_channels.sync_detailed(
            client=client,
            body=NewChannelNewBazaarChannel(
                shop_id="smoke-shop-py",
                name="Flagship",
                marketplace=NewChannelNewBazaarChannelMarketplace.BAZAAR,
            ),
        ),
        201,
        ChannelDto,
    )
    push_paid_trade(channel, ORDERED)
    listed = order_when_allocated(client)
    order = parsed("GET /v1/orders/{id}", get_v1_orders_id.sync_detailed(listed.id, client=client), 200, OrderDto)
    check("the order's trade id", order.external_id, TID)
    check("the order's shop", order.channel_id, channel.id)
    check("the order's status", order.status, "allocated")
    check("the order's payment", order.payment, "418.00")
    line = order.lines[0]
    check("the order's lines", [(ln.sku_code, ln.quantity) for ln in order.lines], [(SKU, ORDERED)])
    check("the order line's reservation", line.reservation_state, "confirmed")
    if not order.timeline:
        raise Mismatch(f"GET /v1/orders/{{id}} has no timeline: {order.to_dict()}")
    stock = stock_is(client, "stock after the order", RECEIVED, RESERVED_DIRECTLY + ORDERED)
    print(
        f"read order {order.id} ({order.status}, {line.quantity} × {line.sku_code} {line.reservation_state}); "
        f"stock {stock.on_hand} on hand, {stock.reserved} reserved, {stock.available} available"
    )


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: smoke.py <base-url>", file=sys.stderr)
        return 2
    try:
        smoke(sys.argv[1])
    except Mismatch as e:
        print(f"smoke.py: FAILED: {e}", file=sys.stderr)
        return 1
    print("smoke.py: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
