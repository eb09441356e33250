"""Community devices behind building gateways, over OPC UA and MQTT, fed by the district.

Fall detectors, health bracelets, door contacts, smoke, gas and water-leak alarms, installed
by the synthetic district's policy (:func:`device_population`), each with an alarm latch
that only an acknowledgement of *its* episode clears. :class:`GatewayServer` serves a
gateway's devices over OPC UA (restartable, keeping state), :class:`MqttGateway` the same
device model as JSON topics; :class:`Driver` makes them behave and injects alarms::

    estate = build_estate(device_population(District(2_000, 7)), "127.0.0.1", 1883)
    await estate.start()
    episode = await estate.gateways[0].raise_alarm(device_id)

Never imported by production code; imports only ``canonical_model`` and the district.
"""

from simulators.devices.device import ALARM_OF, POINTS_OF, SimDevice
from simulators.devices.driver import Driver
from simulators.devices.mqtt_gateway import MqttGateway
from simulators.devices.opcua_gateway import NAMESPACE, GatewayServer, free_port
from simulators.devices.population import HEARTBEATS, DeviceSpec, device_population
from simulators.devices.simulation import Estate, SimulationOptions, build_estate, simulate

__all__ = [
    "ALARM_OF",
    "HEARTBEATS",
    "NAMESPACE",
    "POINTS_OF",
    "DeviceSpec",
    "Driver",
    "Estate",
    "GatewayServer",
    "MqttGateway",
    "SimDevice",
    "SimulationOptions",
    "build_estate",
    "device_population",
    "free_port",
    "simulate",
]
