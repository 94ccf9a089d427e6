"""星标: admin toggles ★ on an indicator (★ items weigh double and come first)."""

from bot.commands import Context, IndicatorParam, command
from bot.messages import Reply


@command("星标", IndicatorParam(), admin=True, needs_binding=False)
def star(ctx: Context, ind) -> Reply:
    """星标 <编号>：标记或取消★（前期网上申报显示需进一步加强整改的项，权重加倍）"""
    current = ctx.preload.star_overrides.get(ind.id)
    starred = ctx.starred(ind)
    ctx.store.set_star(ind.id, current, not starred, ctx.actor, claim=ctx.claim)
    if starred:
        return Reply(f"已取消第{ind.id}项的★标记。")
    return Reply(
        f"已将第{ind.id}项标为★整改项：各部门任务中置顶，排名权重加倍；"
        f"各责任单位须先发送「整改 {ind.id} 整改情况」写明整改说明，才能标记完成。"
    )
