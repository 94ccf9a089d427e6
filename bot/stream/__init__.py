"""Intranet mode: messages received over a long connection that Duban opens to the platform,
so that no public callback URL is needed (`python -m bot.stream`).

One asyncio process runs a client per platform whose mode asks for it (DUBAN_DINGTALK_MODE=stream,
DUBAN_WECOM_MODE=longconn, DUBAN_FEISHU_MODE=ws): DingTalk Stream (dingtalk.py), the WeCom smart
bot's long connection (wecom.py) and Feishu's event WebSocket (feishu.py). Each client only
speaks its platform's frames; a message joins the path of its HTTP hook in accept.py, with the
same dedupe by platform message id, and is acknowledged only once it is safely accepted.
Reconnecting with backoff and the bounded handling of frames are shared (connection.py).
"""
