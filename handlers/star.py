"""星标: admin toggles ★ on an indicator (★ items weigh double and come first)."""

from bot import rules, texts
from bot.commands import Context, IndicatorParam, command
from bot.messages import Reply


@command("星标", IndicatorParam(), admin=True, needs_binding=False)
def star(ctx: Context, ind) -> Reply:
    """星标 <编号>：标记或取消★（前期网上申报显示需进一步加强整改的项，权重加倍）"""
    current = ctx.preload.star_overrides.get(ind.id)
    starred = rules.star(ctx.starred(ind))
    ctx.store.assignments.set_star(ind.id, current, starred, ctx.actor, claim=ctx.claim)
    return Reply(texts.star_changed(ind.id, starred))
