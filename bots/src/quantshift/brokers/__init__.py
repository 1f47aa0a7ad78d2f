"""Brokers behind one interface: sim (default, offline), alpaca, ccxt.

The network adapters import alpaca-py / ccxt only when constructed, so the
base install (sim only) needs neither extra."""
from ..venues.retry import RetryPolicy
from .alpaca_broker import AlpacaBroker
from .base import AccountState, Broker, BrokerError, BrokerUnavailable, OrderRequest, OrderResult, make_client_order_id
from .ccxt_broker import CcxtBroker
from .remote import RemoteBroker
from .sim import SimBroker

__all__ = ["AccountState", "Broker", "BrokerError", "BrokerUnavailable", "OrderRequest", "OrderResult",
           "make_client_order_id", "RemoteBroker", "RetryPolicy", "SimBroker", "AlpacaBroker", "CcxtBroker"]
