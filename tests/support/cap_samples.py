"""CAP 1.2 samples shared by the schema, gateway, stream and end-to-end tests.

They follow the layout of the examples in the OASIS CAP 1.2 specification
(Appendix A), written for the synthetic demo district.
"""

from __future__ import annotations

SENDER = "yingji@district-990101.example"
# The CAP senders a test system token owns (tests/support/gateway.py).
CAP_SENDERS = (SENDER, "x@example")

# A rectangle across six demo grids (lat 39.903-39.907, lon 116.384-116.394).
SPANNING_POLYGON = "39.903,116.384 39.903,116.394 39.907,116.394 39.907,116.384 39.903,116.384"
# 300 m around 39.915,116.413 (grid 990101003002004), reaching three of its neighbours.
CIRCLE = "39.915,116.413 0.3"
REF_1 = f"{SENDER},YJ-2026-0815-001,2026-08-15T14:30:00+08:00"
REF_2 = f"{SENDER},YJ-2026-0815-002,2026-08-15T16:00:00+08:00"

ALERT_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>YJ-2026-0815-001</identifier>
  <sender>{SENDER}</sender>
  <sent>2026-08-15T14:30:00+08:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>en-US</language>
    <category>Met</category>
    <event>Rainstorm</event>
    <responseType>Prepare</responseType>
    <urgency>Expected</urgency>
    <severity>Moderate</severity>
    <certainty>Likely</certainty>
    <headline>Rainstorm warning</headline>
    <area>
      <areaDesc>Demo district, streets 001 and 002</areaDesc>
      <polygon>{SPANNING_POLYGON}</polygon>
    </area>
  </info>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨预警</event>
    <responseType>Prepare</responseType>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Observed</certainty>
    <onset>2026-08-15T15:00:00+08:00</onset>
    <expires>2026-08-15T22:00:00+08:00</expires>
    <senderName>示例区应急管理局（合成数据）</senderName>
    <headline>暴雨橙色预警</headline>
    <description>预计未来3小时内降雨量将达50毫米以上，下穿通道可能积水。</description>
    <instruction>暂停户外作业，避开低洼路段。</instruction>
    <parameter>
      <valueName>colour</valueName>
      <value>orange</value>
    </parameter>
    <area>
      <areaDesc>示例区一街道、二街道</areaDesc>
      <polygon>{SPANNING_POLYGON}</polygon>
      <geocode>
        <valueName>GB/T 2260</valueName>
        <value>990101</value>
      </geocode>
    </area>
  </info>
</alert>
"""

UPDATE_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>YJ-2026-0815-002</identifier>
  <sender>{SENDER}</sender>
  <sent>2026-08-15T16:00:00+08:00</sent>
  <status>Actual</status>
  <msgType>Update</msgType>
  <scope>Public</scope>
  <references>{SENDER},YJ-2026-0815-001,2026-08-15T14:30:00+08:00</references>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <category>Safety</category>
    <event>暴雨预警</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <headline>暴雨红色预警</headline>
    <description>东部下穿通道已积水，请绕行。</description>
    <area>
      <areaDesc>三街道东北片</areaDesc>
      <circle>{CIRCLE}</circle>
    </area>
  </info>
</alert>
"""

CANCEL_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>YJ-2026-0815-003</identifier>
  <sender>{SENDER}</sender>
  <sent>2026-08-15T20:00:00+08:00</sent>
  <status>Actual</status>
  <msgType>Cancel</msgType>
  <scope>Public</scope>
  <note>降雨结束，解除暴雨预警</note>
  <references>{REF_1} {REF_2}</references>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨预警</event>
    <urgency>Past</urgency>
    <severity>Minor</severity>
    <certainty>Observed</certainty>
    <area>
      <areaDesc>示例区</areaDesc>
      <polygon>{SPANNING_POLYGON}</polygon>
      <circle>{CIRCLE}</circle>
    </area>
  </info>
</alert>
"""

XXE_XML = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>&xxe;</identifier>
  <sender>x@example</sender>
  <sent>2026-08-15T14:30:00+08:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
</alert>
"""

BILLION_LAUGHS_XML = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><note>&lol9;</note></alert>
"""


def edited(xml: str, old: str, new: str) -> str:
    """A sample with one piece replaced (the piece must be there)."""
    assert old in xml, old
    return xml.replace(old, new, 1)


def alert_xml(identifier: str) -> str:
    """:data:`ALERT_XML` under another identifier (a fresh alert for each test)."""
    return edited(ALERT_XML, "<identifier>YJ-2026-0815-001<", f"<identifier>{identifier}<")


def reference(identifier: str, sent: str = "2026-08-15T14:30:00+08:00") -> str:
    """One ``<references>`` entry for an alert of :data:`SENDER`."""
    return f"{SENDER},{identifier},{sent}"


def references_only(
    msg_type: str, identifier: str, references: str, note: str | None = None, info: str = ""
) -> str:
    """An Update or Cancel that carries only its references (valid CAP 1.2:
    ``<info>`` is optional; ``info`` may add one without an ``<area>``)."""
    note_xml = f"\n  <note>{note}</note>" if note else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{identifier}</identifier>
  <sender>{SENDER}</sender>
  <sent>2026-08-15T21:00:00+08:00</sent>
  <status>Actual</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>{note_xml}
  <references>{references}</references>{info}
</alert>
"""


NO_AREA_INFO = """
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨预警</event>
    <urgency>Immediate</urgency>
    <severity>Extreme</severity>
    <certainty>Observed</certainty>
    <headline>暴雨红色预警</headline>
    <description>雨势加强，请继续避开低洼路段。</description>
  </info>"""
